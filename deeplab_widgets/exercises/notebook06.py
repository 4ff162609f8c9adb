"""Notebook 06 (video): the exercises' expected answers, from the starter model on the cockatoo clip."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np

from ..core.segmenter import Segmenter
from ..workflows.video import Flicker, FlickerMeter, ProbabilitySmoother, segment_video
from . import exercise, returned_each

STARTER = "deeplabv3-starter"
CLIP = "cockatoo"
#: Frames of the clip an answer function is run on (the start: a dog, a chair, then the bird).
FRAMES = 30
#: Smoothing weights a lag function is run on.
WEIGHTS = (0.2, 0.5, 0.6, 0.75, 0.8, 0.9, 0.95)
#: The weight whose lag is measured on the clip.
MEASURED_WEIGHT = 0.9


@cache
def _starter() -> Segmenter:
    return Segmenter(STARTER)


@cache
def _labels() -> tuple[np.ndarray, ...]:
    return tuple(f.labels for f in segment_video(CLIP, _starter(), limit=FRAMES, progress=False))


@cache
def _flicker() -> Flicker:
    meter = FlickerMeter()
    for labels in _labels():
        meter.add(labels)
    return meter.result()


def _pairs(fn: Callable[[np.ndarray, np.ndarray], Any]) -> list[float] | None:
    return returned_each([fn(a.copy(), b.copy()) for a, b in pairwise(_labels())], float)


@exercise(
    "06.changed-share",
    hint="compare the two class maps pixel by pixel (previous != current) and take the share of True pixels",
    abs=1e-9,
    apply=_pairs,
)
def _changed_share() -> list[float]:
    return list(_flicker().changed)


def _tops(fn: Callable[[np.ndarray], Any]) -> list[int] | None:
    return returned_each([fn(labels.copy()) for labels in _labels()], int)


@exercise(
    "06.top-class",
    hint="count the pixels of each class id (np.bincount(labels.ravel(), minlength=256)), set the background's "
    "count (id 0) to zero, and take the id with the largest count",
    apply=_tops,
)
def _top_class() -> list[int]:
    return list(_flicker().top)


def _step_lag(weight: float) -> int:
    """Frames after a change from one certain class to another before the smoothed map shows the new one."""
    old, new = np.array([[[1.0, 0.0]]], np.float32), np.array([[[0.0, 1.0]]], np.float32)
    smoother = ProbabilitySmoother(weight)
    smoother.update(old)
    for k in range(1000):
        if smoother.update(new)[0, 0, 1] > 0.5:
            return k
    raise AssertionError(f"no switch within 1000 frames at weight {weight}")


@exercise(
    "06.switch-lag",
    hint="after the change the old class keeps w ** (k + 1) of its probability in frame k (0 = the frame of the "
    "change); the new class wins once that is below one half",
    apply=lambda fn: returned_each([fn(w) for w in WEIGHTS], int),
)
def _switch_lag() -> list[int]:
    return [_step_lag(w) for w in WEIGHTS]


def _last_frame_of_first_top(weight: float) -> int:
    """The last frame of the clip's first top class (the dog) before another class takes over."""
    meter = FlickerMeter()
    for f in segment_video(CLIP, _starter(), smooth=weight, limit=FRAMES, progress=False):
        meter.add(f.labels)
    return meter.result().stretches()[0][2]


@exercise(
    "06.measured-lag",
    hint="run the first 30 frames with smooth=0 and with smooth=0.9, find in each the last frame whose top class "
    "is still the first one (the dog), and subtract",
)
def _measured_lag() -> int:
    return _last_frame_of_first_top(MEASURED_WEIGHT) - _last_frame_of_first_top(0.0)
