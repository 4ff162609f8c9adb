"""Notebook 04's exercises (evaluating on labelled images): each expected answer computed on the real models and
the labelled pairs, never written in the notebook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache

import numpy as np

from ..core.segmenter import Segmenter
from ..workflows.compare import disagreement
from ..workflows.evaluate import Evaluation, evaluate
from ..workflows.labelled import labelled_pairs
from ..workflows.metrics import Metrics
from . import exercise

V3PLUS = ("deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8")


@cache
def voc_evaluation(model: str, resize: str | None = None, tta: str | None = None) -> Evaluation:
    """A zoo model scored on the 15 VOC pairs (cached: several exercises use the same one)."""
    return evaluate(Segmenter(model, resize=resize), labelled_pairs("pascal_voc"), tta=tta, progress=False)  # type: ignore[arg-type]


@cache
def _confusions() -> tuple[np.ndarray, ...]:
    """Confusion matrices the all-background exercise runs the learner's function on: the dm1.0 model on all 15
    VOC pairs, on the first 5, and the v3+ int8 model on the 3 ADE20K pairs (class 0 = "other")."""
    voc = labelled_pairs("pascal_voc")
    first5 = evaluate("deeplabv3-mnv2-voc", replace(voc, items=voc.items[:5]), progress=False)
    ade = evaluate(V3PLUS[1], labelled_pairs("ade20k-32"), progress=False)
    return voc_evaluation("deeplabv3-mnv2-voc").overall.confusion, first5.overall.confusion, ade.overall.confusion


def _background_everywhere(confusion: np.ndarray) -> tuple[float, float]:
    """Pixel accuracy and mIoU (classes present in the ground truth) of a model that predicts class 0 everywhere,
    on the images a confusion matrix (rows = ground truth) was counted on."""
    truth = np.asarray(confusion).sum(axis=1)
    everything_background = np.zeros_like(confusion)
    everything_background[:, 0] = truth
    m = Metrics.from_confusion(everything_background)
    return m.pixel_accuracy, m.miou


def _on_the_confusions(score: Callable[[np.ndarray], tuple[float, float]]) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in score(conf.copy())) for conf in _confusions()]  # type: ignore[misc]


@exercise(
    "04.all-background",
    hint="the true class-0 pixels are confusion[0].sum() of confusion.sum(); class 0's IoU is that share too, every "
    "other class present in the ground truth (a row with pixels) scores 0, and mIoU averages over those classes",
    abs=1e-6,
    apply=_on_the_confusions,
)
def _all_background() -> list[tuple[float, float]]:
    return _on_the_confusions(_background_everywhere)


@exercise(
    "04.worst-bottle",
    hint="best.worst(1)[0] is the worst image; its metrics.top_confusions() (or its prediction where the mask is "
    "5, bottle) says which class the bottle's pixels were given",
)
def _worst_bottle() -> str:
    worst = min(voc_evaluation("deeplabv3-mnv2-voc").images, key=lambda s: s.miou)
    confusion = worst.metrics.normalized_confusion()
    bottle = worst.metrics.class_names.index("bottle")
    return worst.metrics.class_names[int(np.argmax(confusion[bottle]))]


@exercise(
    "04.pad",
    hint='evaluate(Segmenter("deeplabv3-starter", resize="pad"), voc, progress=False).miou',
    abs=0.002,
)
def _pad() -> float:
    return voc_evaluation("deeplabv3-starter", resize="pad").miou


@exercise(
    "04.disagreement",
    hint="disagreement(uint8 result, int8 result).fraction for ade.load(1)[0] and ade.load(2)[0], in that order",
    abs=0.002,
)
def _disagreement() -> list[float]:
    ade = labelled_pairs("ade20k-32")
    a, b = (Segmenter(m) for m in V3PLUS)
    return [disagreement(a.segment(ade.load(k)[0]), b.segment(ade.load(k)[0])).fraction for k in (1, 2)]


@exercise(
    "04.multiscale",
    hint='evaluate(starter, voc, tta="multiscale", progress=False).miou minus the plain starter\'s mIoU',
    abs=0.003,
)
def _multiscale() -> float:
    plain = voc_evaluation("deeplabv3-starter")
    return voc_evaluation("deeplabv3-starter", tta="multiscale").miou - plain.miou
