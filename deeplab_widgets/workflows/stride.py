"""What an output stride costs in precision, measured on ground truth: two oracles.

A class map that lives on a grid `stride` pixels apart has to be brought back to full size. `oracle_labels` puts
the ground truth itself on that grid (each grid point takes the commonest labelled class of its cell) and gives
every pixel its cell's class: the best any class map *constant per cell* can do, so a bound for those only.
DeepLab upsamples its logits bilinearly, so a boundary can fall between grid points: `bilinear_oracle_labels`
interpolates each cell's class fractions instead and reaches much more (0.985 mIoU at output stride 16 on the
VOC pairs, against 0.937). Neither involves training; they say what the grid alone costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DatasetError, OptionsError
from .datasets import LabelledDataset
from .metrics import ConfusionMatrix

#: The output strides the teaching notebooks compare (v3+'s decoder logits, v3 at eval, v3 at training, none).
STRIDES = (4, 8, 16, 32)
#: Boundary accuracy counts the pixels at most this many pixels from a ground-truth boundary.
BOUNDARY_WIDTH = 3


def grid_size(size: int, stride: int) -> int:
    """Cells along a side of `size` pixels on DeepLab's aligned-corner grid: (size - 1) / stride + 1, rounded up.

    Args:
        size: Pixels along the side.
        stride: The output stride.
    """
    if stride < 1 or int(stride) != stride:
        raise OptionsError(f"the output stride must be a whole number >= 1, not {stride!r}")
    return -(-(size - 1) // int(stride)) + 1


def oracle_labels(truth: np.ndarray, stride: int, *, ignore: int | None = 255, num_classes: int = 256) -> np.ndarray:
    """The ground truth as well as a class map `stride` pixels apart can hold it, at full size again.

    Grid points sit at pixels 0, s, 2s, ... (aligned corners); every pixel belongs to its nearest grid
    point, each grid point takes the commonest non-`ignore` class among its pixels, and every pixel
    gets its grid point's class back. Cells with no labelled pixel get class 0 (they only hold void).

    Args:
        truth: The H x W ground-truth class map.
        stride: The output stride (grid spacing in pixels).
        ignore: The void label, not voted for (None: every label counts).
        num_classes: Label values to count (256 for uint8 masks).
    """
    truth = np.asarray(truth)
    (gh, gw), cell, labels, keep = _cells(truth, stride, ignore)
    counts = np.bincount(cell[keep] * num_classes + labels[keep], minlength=gh * gw * num_classes)
    grid = counts.reshape(gh * gw, num_classes).argmax(axis=1).astype(truth.dtype)
    return grid[cell].reshape(truth.shape)


def _cells(
    truth: np.ndarray, stride: int, ignore: int | None
) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """The grid's size, each pixel's nearest grid point (flat index), the flat labels and which are not `ignore`."""
    if truth.ndim != 2:
        raise OptionsError(f"a ground-truth mask is H x W, not {truth.shape}")
    h, w = truth.shape
    gh, gw = grid_size(h, stride), grid_size(w, stride)
    rows = np.minimum((np.arange(h) + stride // 2) // stride, gh - 1)
    cols = np.minimum((np.arange(w) + stride // 2) // stride, gw - 1)
    cell = (rows[:, None] * gw + cols[None, :]).ravel()
    labels = truth.ravel().astype(np.int64)
    keep = labels != ignore if ignore is not None else np.ones(labels.shape, bool)
    return (gh, gw), cell, labels, keep


def bilinear_oracle_labels(truth: np.ndarray, stride: int, *, ignore: int | None = 255) -> np.ndarray:
    """The ground truth through a grid `stride` pixels apart the way DeepLab's logits reach full size: bilinearly.

    Each grid point holds its cell's class *fractions* (labelled pixels only); the fraction maps are
    interpolated bilinearly between grid points (aligned corners) and every pixel takes the largest. A
    boundary can then fall between grid points, so this oracle beats `oracle_labels`: the cell-constant
    oracle is a bound only for models whose class map is constant per cell.
    """
    truth = np.asarray(truth)
    (gh, gw), cell, labels, keep = _cells(truth, stride, ignore)
    h, w = truth.shape
    present = np.unique(labels[keep])
    index = np.searchsorted(present, labels[keep])
    counts = np.bincount(cell[keep] * len(present) + index, minlength=gh * gw * len(present))
    fractions = counts.reshape(gh, gw, len(present)).astype(np.float32)
    fractions /= np.maximum(fractions.sum(axis=-1, keepdims=True), 1)

    def axis(n: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(n) / stride
        lo = np.minimum(np.floor(src).astype(int), g - 1)
        hi = np.minimum(lo + 1, g - 1)
        return lo, hi, (src - lo).astype(np.float32)

    r0, r1, fr = axis(h, gh)
    c0, c1, fc = axis(w, gw)
    fr, fc = fr[:, None, None], fc[None, :, None]
    top = fractions[r0][:, c0] * (1 - fc) + fractions[r0][:, c1] * fc
    bottom = fractions[r1][:, c0] * (1 - fc) + fractions[r1][:, c1] * fc
    best = (top * (1 - fr) + bottom * fr).argmax(axis=-1)
    return present[best].astype(truth.dtype)


def boundary_band(truth: np.ndarray, width: int = BOUNDARY_WIDTH) -> np.ndarray:
    """Pixels at most `width` pixels (chessboard distance) from a change of label in `truth`.

    Args:
        truth: The H x W ground-truth class map.
        width: The band's half-width in pixels.
    """
    truth = np.asarray(truth)
    edge = np.zeros(truth.shape, bool)
    edge[:-1] |= truth[:-1] != truth[1:]
    edge[1:] |= truth[:-1] != truth[1:]
    edge[:, :-1] |= truth[:, :-1] != truth[:, 1:]
    edge[:, 1:] |= truth[:, :-1] != truth[:, 1:]
    padded = np.pad(edge, width)
    return np.asarray(sliding_window_view(padded, (2 * width + 1, 2 * width + 1)).any(axis=(-2, -1)))


@dataclass(frozen=True)
class StrideBound:
    """The oracle's scores at one output stride over a labelled dataset."""

    output_stride: int
    miou: float  # mean IoU over the classes present in the ground truth
    pixel_accuracy: float
    boundary_accuracy: float  # pixel accuracy within `boundary_width` px of a ground-truth boundary
    boundary_width: int
    grid: tuple[int, int]  # class-map size for a 513 x 513 input at this stride


def oracle_bound(
    dataset: LabelledDataset,
    strides: Sequence[int] = STRIDES,
    *,
    boundary_width: int = BOUNDARY_WIDTH,
    upsample: Literal["cell", "bilinear"] = "cell",
) -> tuple[StrideBound, ...]:
    """The oracle at each output stride: its mIoU, pixel and boundary accuracy on `dataset`.

    Every mask is put on the stride grid at its own size (no model runs). Void pixels are not scored.
    `upsample="cell"` (`oracle_labels`) gives every pixel its cell's class: a bound for class maps constant per
    cell; `"bilinear"` (`bilinear_oracle_labels`) interpolates class fractions, as DeepLab's logits are.
    Raises `DatasetError` for an empty dataset.

    Args:
        dataset: The labelled images.
        strides: The output strides to evaluate.
        boundary_width: The half-width of the boundary band whose accuracy is reported.
    """
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.name}: no images to score")
    n, ignore = dataset.num_classes, dataset.ignore_index
    truths = [dataset.load(item)[1] for item in dataset.items]
    bands = [boundary_band(t, boundary_width) for t in truths]
    out = []
    for stride in strides:
        outside = ignore if ignore is not None else 255  # marks pixels away from boundaries: not scored
        whole, edge = ConfusionMatrix(n, ignore), ConfusionMatrix(n, outside)
        for truth, band in zip(truths, bands, strict=True):
            pred = (bilinear_oracle_labels if upsample == "bilinear" else oracle_labels)(truth, stride, ignore=ignore)
            whole.update(truth, pred)
            edge.update(np.where(band, truth, outside), pred)
        m, b = whole.metrics(), edge.metrics()
        size = grid_size(513, stride)
        out.append(StrideBound(int(stride), m.miou, m.pixel_accuracy, b.pixel_accuracy, boundary_width, (size, size)))
    return tuple(out)
