"""Notebook 02 (inference): the exercises' expected answers, computed on the starter model and the sample photos."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from ..core.preprocess import content_size, fit
from ..core.segmenter import SegmentationResult, Segmenter
from ..core.size import Size
from ..viz.confidence import heat_values
from ..workflows.samples import load_sample
from . import exercise, returned, returned_each

STARTER = "deeplabv3-starter"
#: Photo sizes (width, height) a pad-layout answer is run on: the sample photos, and the portrait of the question.
PAD_PHOTOS = ("cat", "pets", "bird", "grace_hopper", "kite_and_cold")
PORTRAIT = (900, 1352)


def _float32(value: Any) -> np.ndarray:
    return np.asarray(value, np.float32)


@cache
def _starter() -> Segmenter:
    return Segmenter(STARTER)


@cache
def _cat() -> SegmentationResult:
    return _starter().segment(load_sample("cat"), scores=True)


def _pad_sizes() -> list[tuple[int, int]]:
    return [load_sample(name).size for name in PAD_PHOTOS] + [PORTRAIT]


def _pad_answers(fn: Callable[..., Any]) -> list[tuple[int, ...]] | None:
    size = _starter().spec.input_size[0]
    return returned_each([fn(w, h, size) for w, h in _pad_sizes()], lambda a: tuple(int(v) for v in a))


@exercise(
    "02.pad-layout",
    hint="pad scales both sides by the same factor, the one that makes the longer side fit; round to whole pixels",
    apply=_pad_answers,
)
def _pad_layout() -> list[tuple[int, ...]]:
    size = _starter().spec.input_size
    out: list[tuple[int, ...]] = []
    for w, h in _pad_sizes():
        c = content_size(Size(h, w), size, "pad")
        out.append((c.width, c.height))
    return out


def _cat_pixels() -> np.ndarray:
    pixels, _ = fit(load_sample("cat"), _starter().spec.input_size, "stretch")
    return pixels


@exercise(
    "02.normalise",
    hint="map 0 to -1 and 255 to +1 with (x - 127.5) / 127.5, as float32, keeping the h x w x 3 shape",
    abs=1e-5,
    apply=lambda fn: returned(fn(_cat_pixels().copy()), _float32),
)
def _normalise() -> np.ndarray:
    return _starter().spec.input_batch(_cat_pixels())[0]


@exercise(
    "02.entropy",
    hint="-sum(p * log p) over the classes, divided by log(number of classes); clip p away from 0 before the log",
    abs=1e-4,
    apply=lambda fn: returned(fn(_cat().scores.copy()), _float32),  # type: ignore[union-attr]
)
def _entropy() -> np.ndarray:
    return heat_values(_cat(), "entropy")


@cache
def _pets() -> SegmentationResult:
    return _starter().segment(load_sample("pets"), scores=True)


@exercise(
    "02.unsure-background",
    hint="keep the pixels whose top class (scores.argmax(axis=-1)) is the background, then take the share of them "
    "whose top-class probability (scores.max(axis=-1)) is below 0.9",
    abs=0.01,
)
def _unsure_background() -> float:
    scores = _pets().scores
    assert scores is not None
    background = scores.argmax(axis=-1) == 0
    return float((scores.max(axis=-1)[background] < 0.9).mean())


@exercise(
    "02.greyscale",
    hint="segment load_sample('pets').convert('L') with the starter model and collect the names of "
    "result.present_classes()",
)
def _greyscale() -> set[str]:
    result = _starter().segment(load_sample("pets").convert("L"))
    return {c.name for c in result.present_classes()}
