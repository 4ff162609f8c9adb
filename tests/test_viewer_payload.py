"""What the browser viewer receives for a result: the class map (exactly), the photo, both palettes, the scores."""

from __future__ import annotations

import io
import random
import zlib

import numpy as np
from PIL import Image

from deeplab_widgets import load_sample
from deeplab_widgets.core.labels import CONTRAST_COLORS
from deeplab_widgets.widgets.viewer_payload import (
    browser_table,
    nearest_table,
    photo_jpeg,
    upsamples_exactly,
    viewer_payload,
)


def upsampled(payload, size: tuple[int, int]) -> np.ndarray:
    """The payload's class map brought to the photo's size as the browser does (Pillow's nearest rule)."""
    if payload.labels:
        mask = Image.fromarray(np.frombuffer(payload.labels, np.uint8).reshape(payload.labels_shape))
    else:
        mask = Image.open(io.BytesIO(payload.mask_png))
        assert mask.mode == "P"
    return np.asarray(mask.resize(size, Image.Resampling.NEAREST) if mask.size != size else mask)


def test_a_coarse_result_sends_the_class_map_at_the_model_resolution_and_the_coarse_logits(starter):
    image = load_sample("grace_hopper")  # 512x600, the starter's 257x257 map upsamples exactly
    result = starter.segment(image, scores="coarse")
    payload = viewer_payload(image, result)

    assert payload.labels_shape == (257, 257) and len(payload.labels) == 257 * 257 and payload.mask_png == b""
    np.testing.assert_array_equal(upsampled(payload, image.size), result.labels)
    assert Image.open(io.BytesIO(payload.photo)).size == image.size
    assert (
        payload.class_names[15] == "person" and payload.class_names[21] == "class 21" and len(payload.colormap) == 768
    )
    assert payload.clear == (0,) and payload.contrast_colormap[3 : 3 + 3] == bytes(CONTRAST_COLORS[0])

    info = payload.coarse_info
    assert info["shape"] == [33, 33, 21] and info["dtype"] == "float32" and info["output"] == [257, 257]
    assert info["content"] == [257, 257] and info["align_corners"] and not info["half_pixel_centers"]
    logits = np.frombuffer(payload.coarse, np.float32).reshape(info["shape"])
    np.testing.assert_array_equal(logits, result.coarse.logits)
    assert payload.scores == b"" and len(payload.coarse) == 33 * 33 * 21 * 4  # 91 kB, not 257x257x21 scores


def test_a_padded_photo_sends_the_photo_part_and_a_smaller_photo_the_photo_size_map(segmenters):
    voc = segmenters["deeplabv3-mnv2-voc"]  # pad mode
    kite = load_sample("kite_and_cold")
    result = voc.segment(kite, scores="coarse")
    payload = viewer_payload(kite, result)
    assert payload.labels_shape == (341, 513)  # the content, not the padding
    np.testing.assert_array_equal(upsampled(payload, kite.size), result.labels)
    assert payload.coarse_info["content"] == [341, 513] and payload.coarse_info["dtype"] == "uint8"
    assert payload.coarse_info["scale"] == voc.spec.coarse_quantization[0]

    cat = load_sample("cat")  # 512x341 from a 513x342 content: not an upsampling, so the photo-size map goes
    result = voc.segment(cat, scores="coarse")
    payload = viewer_payload(cat, result)
    assert payload.labels_shape == (341, 512)
    np.testing.assert_array_equal(upsampled(payload, cat.size), result.labels)


def test_a_result_with_scores_sends_top3_scores(starter):
    image = load_sample("grace_hopper")
    result = starter.segment(image, scores=True)
    payload = viewer_payload(image, result)
    mask = Image.open(io.BytesIO(payload.mask_png))  # the palette PNG at the photo's size, the dataset's colours
    np.testing.assert_array_equal(np.asarray(mask), result.labels)
    assert mask.getpalette()[: 3 * 21] == result.colormap[:21].ravel().tolist() and payload.labels == b""
    assert payload.coarse == b"" and payload.coarse_info == {}
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
    assert payload.scores == b"" and payload.score_shape == (0, 0, 0) and payload.coarse == b""


def test_a_photo_encoded_earlier_is_sent_as_it_is(starter):
    image = load_sample("cat")
    jpeg = photo_jpeg(image)
    assert viewer_payload(image, starter.segment(image, scores="coarse"), photo=jpeg).photo is jpeg


def test_the_browser_upsampling_rule_is_restores_for_every_size_it_is_used_for():
    rng = random.Random(0)
    for _ in range(2000):
        n_in, n_out = rng.randint(1, 600), rng.randint(1, 5000)
        np.testing.assert_array_equal(browser_table(n_in, n_out), nearest_table(n_in, n_out))
    assert upsamples_exactly(257, 341) and upsamples_exactly(257, 257)
    assert not upsamples_exactly(342, 341)  # shrinking drops rows: the photo-size map is sent
