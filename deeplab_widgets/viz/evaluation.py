"""Error-analysis and model-comparison figures: confusion heat map, per-class IoU, worst images, mIoU vs latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc
from PIL import Image

from ..core.segmenter import SegmentationResult
from ..errors import OptionsError
from ..workflows.compare import Disagreement
from ..workflows.datasets import LabelledDataset
from ..workflows.evaluate import Evaluation
from ..workflows.metrics import Metrics
from .masks import as_photo, colorize, overlay


def plot_confusion(metrics: Metrics, *, title: str = "", figsize: tuple[float, float] = (7.5, 6.5)) -> Figure:
    """Row-normalised confusion matrix (ground truth rows, prediction columns) of the classes that occur.

    Args:
        metrics: Metrics with their confusion matrix (`Evaluation.overall`).
        title: The figure title.
        figsize: Figure size in inches.
    """
    conf = metrics.confusion
    used = np.flatnonzero(conf.sum(axis=0) + conf.sum(axis=1))
    norm = metrics.normalized_confusion()[np.ix_(used, used)]
    names = [metrics.class_names[i] for i in used]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(used)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(used)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    for (r, c), v in np.ndenumerate(norm):
        if v >= 0.005:
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v > 0.5 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the ground-truth row")
    ax.set_title(title or "confusion matrix (row-normalised)")
    return fig


def plot_class_iou(
    evaluations: Evaluation | Sequence[Evaluation], *, figsize: tuple[float, float] = (7.5, 5.0)
) -> Figure:
    """Horizontal bars of per-class IoU (classes present in the ground truth), one colour per evaluation.

    Args:
        evaluations: One evaluation or several (on the same dataset).
        figsize: Figure size in inches.
    """
    evals = [evaluations] if isinstance(evaluations, Evaluation) else list(evaluations)
    if not evals:
        raise OptionsError("plot_class_iou needs at least one evaluation")
    present = evals[0].overall.present
    names = [evals[0].overall.class_names[c] for c in present]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / len(evals)
    y = np.arange(len(present))
    for k, e in enumerate(evals):
        values = [0.0 if np.isnan(e.overall.iou[c]) else e.overall.iou[c] for c in present]
        ax.barh(y + k * height, values, height, label=f"{e.label}: mIoU {e.miou:.3f}")
    ax.set_yticks(y + height * (len(evals) - 1) / 2, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"per-class IoU on {evals[0].dataset} ({len(evals[0].images)} images)")
    return fig


def _rgb(color: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(c) / 255 for c in color[:3])
    return (r, g, b)


def plot_worst_images(evaluation: Evaluation, dataset: LabelledDataset, n: int = 4) -> Figure:
    """The `n` lowest-mIoU images: photo, ground truth and prediction (needs `keep_predictions=True`).

    Args:
        evaluation: An evaluation made with `keep_predictions=True`.
        dataset: The dataset it was made on.
        n: How many images.
    """
    worst = evaluation.worst(n)
    predictions = [s.prediction for s in worst if s.prediction is not None]
    if len(predictions) < len(worst):
        raise OptionsError("the evaluation has no stored predictions; run evaluate(..., keep_predictions=True)")
    from matplotlib.patches import Patch

    cmap = dataset.labels.colormap
    fig = Figure(figsize=(9, 2.9 * len(worst) + 0.8), layout="constrained")
    axes = fig.subplots(len(worst), 3, squeeze=False)
    shown: set[int] = set()
    for row, score, prediction in zip(axes, worst, predictions, strict=True):
        image, truth = dataset.load(score.name)
        panels = (np.asarray(image), colorize(truth, cmap), colorize(prediction, cmap))
        titles = (score.name, "ground truth", f"{evaluation.model}: mIoU {score.miou:.2f}")
        shown |= {int(v) for v in np.unique(truth)} | {int(v) for v in np.unique(prediction)}
        for ax, pic, title in zip(row, panels, titles, strict=True):
            ax.imshow(pic)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    names = dataset.labels.names
    handles = [Patch(color=_rgb(cmap[v]), label=names[v] if v < len(names) else "void") for v in sorted(shown)]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8, title="classes")
    fig.suptitle(f"{evaluation.model}: the {len(worst)} images with the lowest mIoU", fontsize=10)
    return fig


def plot_accuracy_vs_latency(evaluations: Sequence[Evaluation], *, figsize: tuple[float, float] = (6.5, 4.5)) -> Figure:
    """mIoU against median latency per image, one labelled point per evaluation (up and left is better).

    Args:
        evaluations: The evaluations to place.
        figsize: Figure size in inches.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for e in evaluations:
        marker = "x" if e.mapped else "o"
        ax.scatter(e.median_ms, e.miou, s=60, marker=marker)
        name = e.label + (" *" if e.mapped else "")
        ax.annotate(name, (e.median_ms, e.miou), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("median time per image (ms)")
    ax.set_ylabel("mIoU (classes in the ground truth)")
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    if any(e.mapped for e in evaluations):
        ax.set_title("* cross-dataset: classes mapped onto the dataset's", fontsize=8, loc="right")
    n = len(evaluations[0].images) if evaluations else 0
    fig.suptitle(f"accuracy vs speed ({n} images: a sanity check, not a benchmark)", fontsize=10)
    return fig


def plot_disagreement(
    image: Image.Image | np.ndarray, a: SegmentationResult, b: SegmentationResult, diff: Disagreement
) -> Figure:
    """Both models' overlays and the pixels where they disagree (red), with the commonest confusions.

    Args:
        image: The photo both results were made from.
        a: One model's result.
        b: Another model's result.
        diff: Their `disagreement(a, b)`.
    """
    photo = np.asarray(as_photo(image, a.labels))
    fig = Figure(figsize=(12, 4.3), layout="constrained")
    axes = fig.subplots(1, 3)
    marked = photo.copy()
    marked[diff.mask] = (marked[diff.mask] // 3 + np.array([170, 0, 0], np.uint8)).astype(np.uint8)
    panels = (overlay(photo, a), overlay(photo, b), marked)
    pairs = "; ".join(f"{x}→{y} {f:.2%}" for x, y, f in diff.pairs[:3])
    titles = (a.model, b.model, f"disagree on {diff.fraction:.1%}\n{pairs}")
    for ax, pic, title in zip(axes, panels, titles, strict=True):
        ax.imshow(pic)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"Where {a.model} and {b.model} disagree (red: different class)", fontsize=10)
    return fig
