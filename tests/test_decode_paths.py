"""The fast fit and the reduced-scale JPEG decode give the class maps of the previous full-scale path.

"The previous path" is the photo decoded at full scale and fitted with Pillow's reducing gap 3.0 (what
`segment()` did before the integer pre-reduction and `Image.draft` decoding).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import Segmenter, Size, labelled_pairs, list_models
from deeplab_widgets.assets.samples import list_samples, sample_path
from deeplab_widgets.core import preprocess
from deeplab_widgets.core.images import load_image, load_image_at_least
from deeplab_widgets.workflows.datasets import LabelledDataset
from deeplab_widgets.workflows.evaluate import label_map_for
from deeplab_widgets.workflows.metrics import ConfusionMatrix

PREVIOUS_REDUCING_GAP = 3.0


def previous_labels(segmenter: Segmenter, path: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The class map of the previous path: full decode, reducing gap 3.0."""
    with monkeypatch.context() as m:
        m.setattr(preprocess, "REDUCING_GAP", PREVIOUS_REDUCING_GAP)
        return segmenter.segment(load_image(path)).labels


@pytest.mark.parametrize("sample", [s.name for s in list_samples("photo")])
def test_class_maps_agree_with_the_previous_path_on_every_sample_photo(
    starter: Segmenter, sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sample_path(sample)
    before = previous_labels(starter, path, monkeypatch)
    decoded = starter.segment(load_image(path)).labels  # fast fit, full decode
    from_file = starter.segment(path).labels  # fast fit, reduced-scale decode for a large JPEG
    from_bytes = starter.segment(path.read_bytes()).labels
    assert decoded.shape == from_file.shape == before.shape == load_image(path).size[::-1]
    assert np.mean(decoded == before) >= 0.995, sample
    assert np.mean(from_file == before) >= 0.995, sample
    assert np.array_equal(from_bytes, from_file)


def test_a_large_jpeg_is_decoded_at_reduced_scale_but_mapped_at_full_size(starter: Segmenter) -> None:
    path = sample_path("kite_and_cold")
    decoded = load_image_at_least(path, starter.decode_size)
    assert decoded.size == Size(900, 1352) and decoded.image.size == (676, 450) and decoded.reduced
    assert decoded.box == (0.0, 0.0, 676.0, 450.0)
    result = starter.segment(path)
    assert result.labels.shape == (900, 1352)
    assert {"person", "background"} <= {c.name for c in result.present_classes()}
    # A 513-input model needs more than half of 900 rows: no reduction.
    assert load_image_at_least(path, lambda size: Size(513, 513)).image.size == (1352, 900)


def test_reduced_decode_keeps_exif_orientation(starter: Segmenter, tmp_path: Path) -> None:
    """A JPEG stored sideways with EXIF orientation 6 is segmented upright, at its upright full size."""
    photo = load_image(sample_path("kite_and_cold"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    photo.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=95, exif=exif)
    decoded = load_image_at_least(buf.getvalue(), starter.decode_size)
    assert decoded.size == Size(900, 1352) and decoded.image.size == (676, 450)
    upright = starter.segment(buf.getvalue()).labels
    reference = starter.segment(photo).labels
    assert upright.shape == (900, 1352)
    assert np.mean(upright == reference) >= 0.99


def _dataset(segmenter: Segmenter) -> LabelledDataset:
    """The labelled pairs a model is scored on (ADE20K for the v3+ models, VOC for the others, Cityscapes mapped)."""
    labels = segmenter.spec.labels.name
    return labelled_pairs(labels if labels in ("ade20k", "ade20k-32") else "pascal_voc")


@pytest.mark.slow
@pytest.mark.parametrize("model", [m.name for m in list_models()])
def test_miou_moves_by_at_most_0_002_for_every_zoo_model(
    segmenters: dict[str, Segmenter], model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    segmenter = segmenters[model]
    dataset = _dataset(segmenter)
    mapping = label_map_for(segmenter, dataset)
    before, after = (ConfusionMatrix(dataset.num_classes, dataset.ignore_index) for _ in range(2))
    for item in dataset:
        _, truth = dataset.load(item)
        old = previous_labels(segmenter, item.image_path, monkeypatch)
        new = segmenter.segment(item.image_path).labels  # the file path: reduced decode where it applies
        if mapping is not None:
            old, new = mapping[old], mapping[new]
        before.update(truth, old, item.name)
        after.update(truth, new, item.name)
    old_miou, new_miou = before.metrics().miou, after.metrics().miou
    assert old_miou > 0.05, (model, old_miou)  # a real score (Cityscapes classes mapped to VOC: ~0.12)
    assert abs(new_miou - old_miou) <= 0.002, (model, old_miou, new_miou)


@pytest.fixture(scope="module")
def enlarged_voc(voc: LabelledDataset) -> tuple[LabelledDataset, list[tuple[bytes, np.ndarray]]]:
    """The VOC pairs enlarged 2.7x (JPEG quality 95, masks nearest-neighbour): large enough for reduced decoding."""
    dataset = voc
    pairs = []
    for item in dataset:
        image, truth = dataset.load(item)
        size = (round(image.width * 2.7), round(image.height * 2.7))
        buf = io.BytesIO()
        image.resize(size, Image.Resampling.BICUBIC).save(buf, format="JPEG", quality=95)
        pairs.append((buf.getvalue(), np.asarray(Image.fromarray(truth).resize(size, Image.Resampling.NEAREST))))
    return dataset, pairs


@pytest.mark.slow
@pytest.mark.parametrize("model", [m.name for m in list_models() if m.dataset in ("pascal_voc", "cityscapes")])
def test_reduced_decode_of_large_jpegs_does_not_lower_miou(
    segmenters: dict[str, Segmenter], enlarged_voc, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, pairs = enlarged_voc
    segmenter = segmenters[model]
    mapping = label_map_for(segmenter, dataset)
    before, after = (ConfusionMatrix(dataset.num_classes, dataset.ignore_index) for _ in range(2))
    reduced = 0
    for data, truth in pairs:
        with monkeypatch.context() as m:
            m.setattr(preprocess, "REDUCING_GAP", PREVIOUS_REDUCING_GAP)
            old = segmenter.segment(load_image(data)).labels
        new = segmenter.segment(data).labels
        reduced += load_image_at_least(data, segmenter.decode_size).reduced
        if mapping is not None:
            old, new = mapping[old], mapping[new]
        before.update(truth, old)
        after.update(truth, new)
    assert reduced >= len(pairs) - 1  # the reduced decode is what is being measured
    assert after.metrics().miou >= before.metrics().miou - 0.002, (model, before.metrics().miou, after.metrics().miou)
