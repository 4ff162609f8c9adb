"""What the browser viewer receives for a result: the exact class map, the photo and top-3 scores."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

from deeplab_widgets import load_sample
from deeplab_widgets.core.export import save_mask
from deeplab_widgets.widgets.viewer_payload import viewer_payload


def test_payload_carries_the_exact_class_map_and_top3_scores(starter, tmp_path):
    image = load_sample("grace_hopper")
    result = starter.segment(image, scores=True)
    payload = viewer_payload(image, result)

    assert payload.mask_png == save_mask(result, tmp_path / "mask.png").read_bytes()  # what `segment --out` writes
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(payload.mask_png))), result.labels)
    assert Image.open(io.BytesIO(payload.photo)).size == image.size
    assert payload.class_names[15] == "person" and len(payload.colormap) == 768

    h, w, c = payload.score_shape
    assert (h, w, c) == result.scores.shape
    raw = np.frombuffer(zlib.decompress(payload.scores), np.uint8)
    assert raw.size == h * w * 7
    top = raw[: 3 * h * w].reshape(h, w, 3)
    probs = raw[3 * h * w : 6 * h * w].reshape(h, w, 3)
    np.testing.assert_array_equal(top[..., 0], result.scores.argmax(-1))
    assert (probs[..., 0] >= probs[..., 1]).all() and (probs[..., 1] >= probs[..., 2]).all()
    expected = np.round(result.scores.max(-1) * 255)
    assert np.abs(probs[..., 0].astype(int) - expected).max() <= 1


def test_payload_without_scores_is_empty_there(starter):
    image = load_sample("cat")
    payload = viewer_payload(image, starter.segment(image))
    assert payload.scores == b"" and payload.score_shape == (0, 0, 0)
