"""Notebook 01's exercises (DeepLab v1 -> v3+ on the real models): each expected answer computed on the real
models and data, never written in the notebook.

The functions whose answers take a while (scoring variants on the 15 VOC pairs, probing the v3+ model) run once,
on the first check.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image

from ..analysis import concepts as c
from ..analysis.cost import compute_cost
from ..analysis.derive import derive
from ..analysis.intermediates import Probe
from ..core.segmenter import Segmenter
from ..core.size import Size
from ..workflows.labelled import labelled_pairs
from ..workflows.samples import load_sample
from ..workflows.variants import Variant, score_variants
from . import exercise

#: Rate triples of three stacked 3x3 filters the gridding exercise runs the learner's `holes` on: among them
#: v3's multi-grid (1, 2, 4) times the block rate 2 at output stride 16, i.e. (2, 4, 8).
GRIDDING_RATES = ((1, 2, 4), (2, 4, 8), (1, 2, 9), (1, 2, 5), (2, 2, 2), (1, 3, 9))
#: The v3+ model whose decoder the notebook reads.
V3PLUS = "deeplabv3plus-mnv2-ade20k-int8"
#: DeepLab v3's ASPP rates at output stride 16.
V3_RATES = (6, 12, 18)


@exercise(
    "01.gridding",
    hint="add every tap offset of one layer (c.tap_offsets(3, r)) to every offset reached so far, layer by layer, "
    "then compare the reached offsets with every offset from -span to +span",
    apply=lambda holes: [bool(holes(rates)) for rates in GRIDDING_RATES],
)
def _gridding() -> list[bool]:
    return [c.coverage(rates) < 1 for rates in GRIDDING_RATES]


@exercise(
    "01.os8-macs",
    hint="derive the dm0.5 model at output_stride=8 and divide compute_cost(...).total_macs by the MACs of the "
    "model as published (output stride 16)",
    rel=0.01,
)
def _os8_macs() -> float:
    os8 = compute_cost(derive("deeplabv3-mnv2-dm05-voc", output_stride=8).content).total_macs
    os16 = compute_cost(derive("deeplabv3-mnv2-dm05-voc", output_stride=16).content).total_macs
    return os8 / os16


@cache
def scale_or_detail() -> dict[str, float]:
    """mIoU on the 15 VOC pairs of the starter's weights as published (257 px), at 513 px (OS 16) on the photos,
    and at 513 px on photos with only 257 px of detail."""
    big = derive("deeplabv3-starter", output_stride=16, input_size=513).segmenter()
    scores = score_variants(
        {
            "257 px": Variant(Segmenter("deeplabv3-starter")),
            "513 px": Variant(big),
            "513 px, 257 px of detail": Variant(big, detail=257),
        },
        labelled_pairs("pascal_voc"),
        bootstrap_rounds=10,
    )
    return {s.name: s.miou for s in scores}


@exercise(
    "01.scale-or-detail",
    hint="detail = mIoU at 513 px on the photos minus at 513 px with detail=257; scale = mIoU at 513 px with "
    "detail=257 minus the starter at its own 257 px",
    abs=0.01,
)
def _scale_or_detail() -> tuple[float, float]:
    m = scale_or_detail()
    return m["513 px"] - m["513 px, 257 px of detail"], m["513 px, 257 px of detail"] - m["257 px"]


@exercise(
    "01.degenerate-rate",
    hint="loop over the rates from 1 up and stop at the first whose c.valid_taps(33, rate).center_only is 0.5 or more",
)
def _degenerate_rate() -> int:
    return next(rate for rate in range(1, 200) if c.valid_taps(33, rate).center_only >= 0.5)


@cache
def low_confidence_shares(threshold: float = 0.9) -> tuple[float, float]:
    """Share of the bird photo's pixels whose top-class probability is below `threshold`: dm1.0, dm0.5."""
    photo = load_sample("bird_segmentation")
    shares = []
    for model in ("deeplabv3-mnv2-voc", "deeplabv3-mnv2-dm05-voc"):
        shares.append(float(np.mean(Probe(model).run(photo).confidence() < threshold)))
    return shares[0], shares[1]


@exercise(
    "01.confidence",
    hint="Probe(model).run(photo).confidence() is the top-class probability per pixel; take the mean of "
    "(confidence < 0.9) for each model, dm1.0 first",
    abs=0.002,
)
def _confidence() -> tuple[float, float]:
    return low_confidence_shares()


def decoder_gain(k: int) -> float:
    """Pixel accuracy of the v3+ decoder's stride-4 logits minus that of the same logits on the aligned
    stride-16 grid, on ADE20K pair `k` (both upsampled bilinearly to 512 px and resized to the photo)."""
    ade = labelled_pairs("ade20k-32")
    photo, truth = ade.load(k)
    fine = _v3plus_logits(k)

    def accuracy(logits: np.ndarray) -> float:
        labels = c.upsample_bilinear(logits, Size(512, 512)).argmax(-1).astype(np.uint8)
        pred = np.asarray(Image.fromarray(labels).resize(photo.size, Image.Resampling.NEAREST))
        return float(np.mean(pred == truth))

    return accuracy(fine) - accuracy(c.subsample_aligned(fine, Size(32, 32)))


@cache
def _v3plus_logits(k: int) -> np.ndarray:
    photo, _ = labelled_pairs("ade20k-32").load(k)
    return Probe(V3PLUS).run(photo).coarse_logits()


def _on_the_three_pairs(gain: Callable[[int], float]) -> list[float]:
    return [float(gain(k)) for k in range(3)]


@exercise(
    "01.decoder-gain",
    hint="for ade.load(k): the pixel accuracy of to_photo(fine) minus that of to_photo(c.subsample_aligned(fine, "
    "(32, 32))), with fine the v3+ Probe's coarse_logits() on that photo",
    abs=0.002,
    apply=_on_the_three_pairs,
)
def _decoder_gain() -> list[float]:
    return _on_the_three_pairs(decoder_gain)


@exercise(
    "01.extent",
    hint="a 3x3 filter at rate r on a map of output stride 16 spans r * 2 * 16 + 1 input pixels (c.input_extent)",
)
def _extent() -> set[int]:
    return {rate for rate in V3_RATES if c.input_extent(3, rate, 16) > 513}
