"""Scoring variants of one model on labelled pairs: the same weights at other output strides and input sizes,
with or without image pooling, with or without the CRF, on photos with less detail.

For each variant: mIoU with a bootstrap interval over images (images resampled with replacement, their
confusion matrices summed, mIoU recomputed), pixel accuracy, and accuracy in bands of distance to the ground
truth's boundaries (0-1, 2-3 and 4-8 px), where output stride and boundary refinement make their difference.
The variants are passed in as Segmenters (e.g. `DerivedModel.segmenter()`), so this module runs any model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..core.checks import check_int
from ..core.crf import CrfOptions
from ..core.segmenter import Refine, Segmenter
from ..errors import DatasetError
from .datasets import LabelledDataset
from .metrics import ConfusionMatrix
from .stride import boundary_band

#: Distance bands to the ground truth's boundaries, in pixels (from, to inclusive): 0-1, 2-3, 4-8 px.
BANDS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 8))


@dataclass(frozen=True)
class Variant:
    """One way to run a model: its Segmenter, whether the CRF refines its class maps, and how much detail of the
    photo it sees.

    Attributes:
        segmenter: The model.
        refine: `"crf"` to refine each class map with the CRF (see `Segmenter.segment`).
        crf: The CRF's parameters.
        detail: None for the photo as it is; n to keep only an n x n photo's detail (`reduce_detail`): the model
            sees objects at its own input's scale with the detail of a smaller input, which separates the two
            things a smaller input changes.
    """

    segmenter: Segmenter
    refine: Refine | None = None
    crf: CrfOptions | None = None
    detail: int | None = None


def reduce_detail(photo: Image.Image, size: int) -> Image.Image:
    """The photo at its own size with only the detail of a `size` x `size` version of it.

    Stretched to `size` x `size` as a Segmenter with that input size does (box filter), then enlarged back
    (bilinear): the same objects at the same scale, with what a smaller input loses.

    Args:
        photo: An RGB photo.
        size: The side of the smaller version (e.g. 257, the starter's input).

    Raises:
        OptionsError: `size` is not a whole number >= 2.
    """
    size = check_int("size", size, minimum=2)
    small = photo.resize((size, size), Image.Resampling.BOX)
    return small.resize(photo.size, Image.Resampling.BILINEAR)


@dataclass(frozen=True)
class VariantScore:
    """A variant's scores on a dataset, with the spread over images."""

    name: str
    miou: float
    miou_interval: tuple[float, float]  # 2.5th-97.5th percentile of the bootstrap over images
    pixel_accuracy: float
    band_accuracy: tuple[float, ...]  # accuracy within each of `bands`
    bands: tuple[tuple[int, int], ...]
    images: int
    median_ms: float  # wall-clock time of one prediction (segment, with the CRF when refined)
    confusions: tuple[np.ndarray, ...] = field(repr=False, compare=False)  # per image

    def band_labels(self) -> tuple[str, ...]:
        """The bands as text, e.g. "0-1 px"."""
        return tuple(f"{a}-{b} px" for a, b in self.bands)


def miou_of(confusion: np.ndarray) -> float:
    """Mean IoU over the classes present in the ground truth (rows) of a confusion matrix."""
    diag = np.diag(confusion).astype(np.float64)
    rows, cols = confusion.sum(axis=1), confusion.sum(axis=0)
    present = rows > 0
    return float(np.mean(diag[present] / (rows + cols - diag)[present])) if present.any() else float("nan")


def bootstrap_miou(
    confusions: Sequence[np.ndarray], *, rounds: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """The `level` interval of the dataset mIoU when the images are resampled with replacement."""
    stack = np.stack(confusions)
    rng = np.random.default_rng(seed)
    draws = [miou_of(stack[rng.integers(0, len(stack), len(stack))].sum(axis=0)) for _ in range(rounds)]
    lo, hi = np.percentile(draws, [50 * (1 - level), 100 - 50 * (1 - level)])
    return float(lo), float(hi)


def bootstrap_difference(
    a: VariantScore, b: VariantScore, *, rounds: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """mIoU of `a` minus that of `b` on the same images, with its paired bootstrap interval (lo, hi)."""
    if a.images != b.images:
        raise DatasetError(f"{a.name} and {b.name} were scored on different images")
    sa, sb = np.stack(a.confusions), np.stack(b.confusions)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        pick = rng.integers(0, len(sa), len(sa))
        draws.append(miou_of(sa[pick].sum(axis=0)) - miou_of(sb[pick].sum(axis=0)))
    lo, hi = np.percentile(draws, [50 * (1 - level), 100 - 50 * (1 - level)])
    return a.miou - b.miou, float(lo), float(hi)


def band_masks(truth: np.ndarray, bands: Sequence[tuple[int, int]] = BANDS) -> list[np.ndarray]:
    """Boolean masks of the pixels whose chessboard distance to a label change in `truth` lies in each band."""
    within = {w: boundary_band(truth, w) for a, b in bands for w in (a - 1, b) if w >= 0}
    return [within[b] & ~within[a - 1] if a > 0 else within[b] for a, b in bands]


def score_variants(
    variants: Mapping[str, Variant | Segmenter],
    dataset: LabelledDataset,
    *,
    bands: Sequence[tuple[int, int]] = BANDS,
    bootstrap_rounds: int = 1000,
) -> tuple[VariantScore, ...]:
    """Segment every image of `dataset` with every variant and score them (see the module docstring).

    The variants must predict the dataset's classes. Raises `DatasetError` for an empty dataset.
    """
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.name}: no images to score")
    runs = {name: v if isinstance(v, Variant) else Variant(v) for name, v in variants.items()}
    n, ignore = dataset.num_classes, dataset.ignore_index
    confusions: dict[str, list[np.ndarray]] = {name: [] for name in runs}
    band_hits = {name: np.zeros((len(bands), 2), np.int64) for name in runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for item in dataset.items:
        image, truth = dataset.load(item)
        valid = truth != ignore if ignore is not None else np.ones(truth.shape, bool)
        masks = [m & valid for m in band_masks(truth, bands)]
        for name, v in runs.items():
            photo = image if v.detail is None else reduce_detail(image, v.detail)
            t0 = time.perf_counter()
            labels = v.segmenter.segment(photo, refine=v.refine, crf=v.crf).labels
            times[name].append((time.perf_counter() - t0) * 1e3)
            confusions[name].append(ConfusionMatrix(n, ignore).update(truth, labels))
            right = labels == truth
            for k, mask in enumerate(masks):
                band_hits[name][k] += (int(right[mask].sum()), int(mask.sum()))
    out = []
    for name in runs:
        total = np.sum(confusions[name], axis=0)
        hits = band_hits[name]
        out.append(
            VariantScore(
                name=name,
                miou=miou_of(total),
                miou_interval=bootstrap_miou(confusions[name], rounds=bootstrap_rounds),
                pixel_accuracy=float(np.trace(total) / total.sum()),
                band_accuracy=tuple(float(h / c) if c else float("nan") for h, c in hits),
                bands=tuple(bands),
                images=len(dataset),
                median_ms=float(np.median(times[name])),
                confusions=tuple(confusions[name]),
            )
        )
    return tuple(out)


def markdown_table(scores: Sequence[VariantScore], extra: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The scores as a Markdown table; `extra` adds columns (column -> variant name -> text), e.g. GMACs, ms."""
    extra = extra or {}
    bands = scores[0].band_labels() if scores else ()
    header = ["variant", "mIoU", "95% interval", "pixel acc.", *(f"acc. {b}" for b in bands), *extra]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for s in scores:
        cells = [
            s.name,
            f"{s.miou:.3f}",
            f"{s.miou_interval[0]:.3f}-{s.miou_interval[1]:.3f}",
            f"{s.pixel_accuracy:.3f}",
            *(f"{a:.3f}" for a in s.band_accuracy),
            *(column.get(s.name, "") for column in extra.values()),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
