"""Comparing models: where two models disagree on a photo, and accuracy against latency on a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.checks import check_instance
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmentationResult, SegmenterInput, as_segmenter
from ..core.tables import markdown_table
from ..errors import OptionsError
from .datasets import LabelledDataset
from .evaluate import Evaluation, Tta, evaluate


@dataclass(frozen=True)
class Disagreement:
    """Pixels where two results differ, and the most common (class in a, class in b) confusions."""

    model_a: str
    model_b: str
    mask: np.ndarray = field(repr=False, compare=False)  # H x W bool, True where the class ids differ
    fraction: float
    pairs: tuple[tuple[str, str, float], ...]  # (class by a, class by b, share of all pixels), largest first


def disagreement(a: SegmentationResult, b: SegmentationResult, top: int = 5) -> Disagreement:
    """Where results `a` and `b` of the same photo (and the same label set) assign different classes.

    Args:
        a: One model's result.
        b: Another model's result on the same photo.
        top: How many (class by a, class by b) pairs to report.

    Returns:
        The disagreement mask, its share of the pixels and the most common class pairs, largest first.

    Raises:
        OptionsError: Arguments that are not results, or results that differ in size or in their number of classes.
    """
    check_instance("a", a, SegmentationResult, "a SegmentationResult")
    check_instance("b", b, SegmentationResult, "a SegmentationResult")
    if a.labels.shape != b.labels.shape:
        raise OptionsError(
            f"results differ in size ({a.labels.shape[1]}x{a.labels.shape[0]} vs "
            f"{b.labels.shape[1]}x{b.labels.shape[0]}); compare results of the same photo"
        )
    if len(a.class_names) != len(b.class_names):
        raise OptionsError(
            f"{a.model} predicts {len(a.class_names)} classes and {b.model} {len(b.class_names)}: "
            "class ids of different label sets cannot be compared"
        )
    mask = a.labels != b.labels
    mask.setflags(write=False)
    codes = a.labels[mask].astype(np.int64) * 256 + b.labels[mask]
    ids, counts = np.unique(codes, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]
    total = a.labels.size
    pairs = tuple((a.name_of(int(ids[i] // 256)), b.name_of(int(ids[i] % 256)), counts[i] / total) for i in order)
    return Disagreement(a.model, b.model, mask, float(mask.mean()), pairs)


@dataclass(frozen=True)
class ComparisonRow:
    """One model's line in an accuracy/speed comparison."""

    model: str
    miou: float
    miou_all: float
    pixel_accuracy: float
    median_ms: float
    images: int
    note: str = ""


def compare_models(
    models: Sequence[SegmenterInput],
    dataset: LabelledDataset,
    *,
    options: RuntimeOptions | None = None,
    tta: Tta | None = None,
    progress: bool = True,
    keep_predictions: bool = False,
) -> tuple[Evaluation, ...]:
    """Evaluate several models on one dataset with the same settings.

    Args:
        models: Zoo ids, `.tflite` paths or bytes, or `Segmenter`s (each through `as_segmenter`).
        dataset: The labelled images.
        options: Runtime options for every model (given `Segmenter`s are re-targeted with them); default: each
            segmenter's own, `RuntimeOptions()` for the others.
        tta: Test-time augmentation for every model (see `evaluate`).
        progress: Show a progress bar per model.
        keep_predictions: Keep each image's class map in each evaluation.

    Returns:
        One `Evaluation` per model, in the given order.

    Raises:
        OptionsError: `models` is not a non-empty list.
        ModelNotFoundError: An unknown zoo id.
        NoScoresError: `tta` with a user's model whose logits could not be found.
        DatasetError: The dataset is empty or unusable, or a model's classes cannot be mapped onto it.
    """
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence) or not models:
        raise OptionsError(
            f"models must be a non-empty list of models (zoo ids, paths or Segmenters), not {models!r:.60}"
        )
    segmenters = [as_segmenter(m, options) for m in models]  # every model loads before the first evaluation
    return tuple(
        evaluate(s, dataset, tta=tta, progress=progress, keep_predictions=keep_predictions) for s in segmenters
    )


def comparison_table(evaluations: Sequence[Evaluation]) -> tuple[ComparisonRow, ...]:
    """One row per evaluation, in the given order; cross-dataset scores (mapped labels) are noted.

    Args:
        evaluations: The evaluations, one row each, in order.
    """
    rows = []
    for e in evaluations:
        note = "cross-dataset: model classes mapped onto the dataset's" if e.mapped else ""
        rows.append(
            ComparisonRow(e.label, e.miou, e.overall.miou_all, e.pixel_accuracy, e.median_ms, len(e.images), note)
        )
    return tuple(rows)


#: Columns of `comparison_markdown`.
COMPARISON_COLUMNS = ("model", "mIoU (GT classes)", "mIoU (all)", "pixel acc.", "median ms/image", "images", "note")


def comparison_markdown(rows: Sequence[ComparisonRow]) -> str:
    """A Markdown table of comparison rows (for notebooks and the documentation).

    Args:
        rows: Rows from `comparison_table`.
    """
    cells = [
        (
            r.model,
            f"{r.miou:.3f}",
            f"{r.miou_all:.3f}",
            f"{r.pixel_accuracy:.3f}",
            f"{r.median_ms:.1f}",
            str(r.images),
            r.note,
        )
        for r in rows
    ]
    return markdown_table(COMPARISON_COLUMNS, cells)
