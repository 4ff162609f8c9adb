"""Segmentation metrics from a streaming confusion matrix: IoU, mIoU, pixel and class accuracy.

The matrix holds exact integer pixel counts (rows = ground truth, columns = prediction); every
metric is computed from those integers with `fractions.Fraction` and rounded to float once, so
results do not depend on the order images were added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import DatasetError


def _mean(values: list[Fraction]) -> float:
    return float(sum(values, Fraction(0)) / len(values)) if values else math.nan


@dataclass(frozen=True)
class Metrics:
    """Scores from one confusion matrix (one image or a whole dataset).

    `miou` averages the IoU over the classes present in the ground truth (what a subset of a
    dataset can honestly report); `miou_all` averages over every class with a non-empty union,
    i.e. present in the ground truth or predicted (the `tf.metrics.mean_iou` convention of
    DeepLab's evaluation: a class neither labelled nor predicted has an undefined IoU, 0/0).
    """

    confusion: np.ndarray = field(repr=False, compare=False)  # C x C int64, rows = ground truth, columns = prediction
    class_names: tuple[str, ...] = field(repr=False)
    pixels: int  # labelled (non-ignored) pixels counted
    pixel_accuracy: float
    mean_class_accuracy: float  # over classes present in the ground truth
    miou: float  # over classes present in the ground truth
    miou_all: float  # over classes present in the ground truth or the prediction
    fw_iou: float  # IoU weighted by each class's share of the ground truth
    iou: tuple[float, ...] = field(repr=False)  # per class; NaN when the class is neither labelled nor predicted

    @classmethod
    def from_confusion(cls, confusion: np.ndarray, class_names: tuple[str, ...] | None = None) -> Metrics:
        """All metrics from a C x C integer confusion matrix.

        Args:
            confusion: Pixel counts, rows = ground truth, columns = prediction.
            class_names: One name per class; default `class 0..C-1`.

        Raises:
            DatasetError: The matrix is not square.
        """
        conf = np.array(confusion, dtype=np.int64)
        n = conf.shape[0]
        if conf.ndim != 2 or conf.shape[1] != n:
            raise DatasetError(f"a confusion matrix must be square, got shape {conf.shape}")
        names = tuple(class_names) if class_names is not None else tuple(f"class {i}" for i in range(n))
        tp = [int(v) for v in np.diag(conf)]
        gt = [int(v) for v in conf.sum(axis=1)]
        pred = [int(v) for v in conf.sum(axis=0)]
        total = sum(gt)
        iou = [Fraction(tp[c], gt[c] + pred[c] - tp[c]) if gt[c] + pred[c] else None for c in range(n)]
        labelled = [c for c in range(n) if gt[c]]
        conf.setflags(write=False)
        return cls(
            confusion=conf,
            class_names=names,
            pixels=total,
            pixel_accuracy=float(Fraction(sum(tp), total)) if total else math.nan,
            mean_class_accuracy=_mean([Fraction(tp[c], gt[c]) for c in labelled]),
            miou=_mean([v for c in labelled if (v := iou[c]) is not None]),
            miou_all=_mean([v for v in iou if v is not None]),
            fw_iou=float(sum((Fraction(gt[c], total) * v for c in labelled if (v := iou[c]) is not None), Fraction(0)))
            if total
            else math.nan,
            iou=tuple(math.nan if v is None else float(v) for v in iou),
        )

    @property
    def num_classes(self) -> int:
        """Number of classes (rows of the confusion matrix)."""
        return self.confusion.shape[0]

    @property
    def present(self) -> tuple[int, ...]:
        """Class ids present in the ground truth."""
        return tuple(int(c) for c in np.flatnonzero(self.confusion.sum(axis=1)))

    def class_iou(self) -> dict[str, float]:
        """IoU by class name for the classes present in the ground truth."""
        return {self.class_names[c]: self.iou[c] for c in self.present}

    def normalized_confusion(self) -> np.ndarray:
        """Each ground-truth row divided by its pixel count (recall per cell); empty rows stay 0."""
        rows = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape), where=rows > 0)

    def top_confusions(self, top: int = 3) -> tuple[tuple[str, str, float], ...]:
        """Where the ground truth's pixels went wrong: the largest off-diagonal cells of the normalised confusion.

        Args:
            top: How many to report.

        Returns:
            (true class, predicted class, share of the true class's pixels) triples, largest share first.
        """
        share = self.normalized_confusion()
        np.fill_diagonal(share, 0)
        order = np.argsort(share, axis=None)[::-1][: max(0, top)]
        cells = [np.unravel_index(k, share.shape) for k in order]
        return tuple(
            (self.class_names[t], self.class_names[p], float(share[t, p])) for t, p in cells if share[t, p] > 0
        )

    def to_dict(self) -> dict:
        """A JSON-ready summary (per-class IoU for the classes present in the ground truth)."""
        return {
            "pixels": self.pixels,
            "pixel_accuracy": self.pixel_accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "miou": self.miou,
            "miou_all": self.miou_all,
            "fw_iou": self.fw_iou,
            "class_iou": self.class_iou(),
        }


class ConfusionMatrix:
    """Accumulates ground truth vs prediction pixel counts, image by image, skipping the ignore label.

    Args:
        num_classes: The number of class ids (0 .. num_classes - 1).
        ignore_index: The ground-truth value of unlabelled pixels, never counted; `None` counts every pixel.
        class_names: One name per class, carried into the `Metrics`.

    Raises:
        DatasetError: `num_classes` is below 1, or `class_names` has another length.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255, class_names: tuple[str, ...] | None = None):
        if num_classes < 1:
            raise DatasetError(f"num_classes must be at least 1, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise DatasetError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = tuple(class_names) if class_names is not None else None
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, truth: np.ndarray, prediction: np.ndarray, name: str = "image") -> np.ndarray:
        """Add one image's label maps.

        Args:
            truth: The H x W ground-truth class ids.
            prediction: The H x W predicted class ids, the same size.
            name: The image's name, for error messages.

        Returns:
            That image's own C x C confusion matrix (already added to the running total).

        Raises:
            DatasetError: The maps differ in size, or hold labels outside 0..C-1 (other than the ignore label).
        """
        truth, prediction = np.asarray(truth), np.asarray(prediction)
        if truth.shape != prediction.shape:
            raise DatasetError(
                f"{name}: ground truth is {_size(truth)} but the prediction is {_size(prediction)}; they must match"
            )
        n = self.num_classes
        valid = truth != self.ignore_index if self.ignore_index is not None else np.ones(truth.shape, bool)
        gt, pred = truth[valid].astype(np.int64), prediction[valid].astype(np.int64)
        for what, values in (("ground truth", gt), ("prediction", pred)):
            if values.size and (values.min() < 0 or values.max() >= n):
                bad = sorted({int(v) for v in np.unique(values) if v < 0 or v >= n})
                raise DatasetError(f"{name}: {what} has labels {bad[:5]} outside 0..{n - 1}")
        image = np.bincount(gt * n + pred, minlength=n * n).reshape(n, n)
        self.matrix += image
        return image

    def metrics(self) -> Metrics:
        """The metrics of everything added so far."""
        return Metrics.from_confusion(self.matrix, self.class_names)

    def reset(self) -> None:
        """Forget all counts."""
        self.matrix[:] = 0


def _size(a: np.ndarray) -> str:
    return "x".join(str(d) for d in a.shape[:2][::-1]) if a.ndim >= 2 else str(a.shape)
