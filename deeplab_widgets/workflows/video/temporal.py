"""Across frames: exponential smoothing of class probabilities, and how much the predictions flicker.

Frame-by-frame segmentation of a steady scene still flickers: a few pixels (or a whole object)
change class from one frame to the next. Smoothing the per-class probabilities with an exponential
moving average trades that flicker for lag. With past weight `w`, after a clean change from one class at
probability `p_old` to another at `p_new`, the smoothed new class wins from the first frame `k` (0 = the frame of
the change) at which `w ** (k + 1) < p_new / (p_old + p_new)`: `k` frames of lag, 1 at `w = 0.6` and 3 at
`w = 0.8` when both are certain. `1 / (1 - w)` frames is the average's memory (its time constant), longer
than that lag.
"""

from __future__ import annotations

import numbers
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ...errors import OptionsError


def check_weight(weight: float) -> float:
    """Validate a smoothing weight: 0 (off) up to, not including, 1.

    Args:
        weight: The weight of the past, in [0, 1).
    """
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0.0 <= weight < 1.0:
        raise OptionsError(f"the smoothing weight must be in [0, 1) (0 = off, 0.6 = a typical value), not {weight!r}")
    return float(weight)


class ProbabilitySmoother:
    """Exponential moving average of per-pixel class probabilities: `s = w * s_prev + (1 - w) * p`.

    Args:
        weight: The weight of the past, in [0, 1).
    """

    def __init__(self, weight: float) -> None:
        self.weight = check_weight(weight)
        self._state: np.ndarray | None = None

    def update(self, probs: np.ndarray) -> np.ndarray:
        """Fold in one frame's H x W x C probabilities; returns the smoothed probabilities (read-only).

        Args:
            probs: This frame's h x w x C probabilities.
        """
        if self._state is None or self._state.shape != probs.shape:
            self._state = np.array(probs, np.float32)
        else:
            self._state *= np.float32(self.weight)
            self._state += np.float32(1.0 - self.weight) * probs
        out = self._state.copy()
        out.setflags(write=False)
        return out

    def reset(self) -> None:
        """Forget the past (e.g. after a seek)."""
        self._state = None


def top_class(labels: np.ndarray, ignore: tuple[int, ...] = (0,)) -> int:
    """The class covering most pixels, not counting `ignore` (background); the background if nothing else.

    Args:
        labels: An H x W uint8 class map.
        ignore: Class ids not counted (default: the background, 0).
    """
    counts = np.bincount(labels.ravel(), minlength=256)
    rest = counts.copy()
    rest[list(ignore)] = 0
    return int(rest.argmax()) if rest.any() else int(counts.argmax())


@dataclass(frozen=True)
class Flicker:
    """How much a sequence of class maps flickers.

    `changed` holds, per pair of consecutive frames, the share of pixels whose class changed;
    `top` the top (non-background) class of each frame; `off_majority` counts the frames whose top
    class is not the clip's majority top class.
    """

    frames: int
    changed: tuple[float, ...]
    top: tuple[int, ...]
    majority: int
    off_majority: int

    @property
    def mean_changed(self) -> float:
        """Mean share of pixels changing class between consecutive frames."""
        return float(np.mean(self.changed)) if self.changed else 0.0

    @property
    def max_changed(self) -> float:
        """The largest frame-to-frame change."""
        return float(max(self.changed)) if self.changed else 0.0

    def stretches(self, min_frames: int = 1) -> tuple[tuple[int, int, int], ...]:
        """Runs of frames with the same top class, `(class id, first frame, last frame)`, in frame order.

        Args:
            min_frames: Leave out runs shorter than this.
        """
        runs: list[tuple[int, int, int]] = []
        for i, t in enumerate(self.top):
            if runs and runs[-1][0] == t and runs[-1][2] == i - 1:
                runs[-1] = (t, runs[-1][1], i)
            else:
                runs.append((t, i, i))
        return tuple(r for r in runs if r[2] - r[1] + 1 >= min_frames)

    @property
    def top_switches(self) -> int:
        """How often the top class differs from the previous frame's."""
        return sum(a != b for a, b in zip(self.top, self.top[1:], strict=False))

    def to_dict(self, class_names: tuple[str, ...] = ()) -> dict[str, object]:
        """A JSON-ready summary.

        Args:
            class_names: Names for the class ids (default: ids only).
        """

        def name(i: int) -> str:
            return class_names[i] if i < len(class_names) else f"class {i}"

        return {
            "frames": self.frames,
            "mean_changed_pixels": round(self.mean_changed, 6),
            "max_changed_pixels": round(self.max_changed, 6),
            "majority_class": name(self.majority),
            "frames_off_majority": self.off_majority,
            "top_class_switches": self.top_switches,
        }


class FlickerMeter:
    """Measures flicker on a stream of class maps without keeping them: `add()` each, then `result()`.

    Args:
        ignore: Class ids not counted for the top class (default: the background, 0).
    """

    def __init__(self, ignore: tuple[int, ...] = (0,)) -> None:
        self.ignore = ignore
        self._previous: np.ndarray | None = None
        self._changed: list[float] = []
        self._top: list[int] = []

    def add(self, labels: np.ndarray) -> None:
        """Count one frame's class map (all frames the same size).

        Args:
            labels: The next frame's class map (all of one size).
        """
        if self._previous is not None:
            if self._previous.shape != labels.shape:
                raise OptionsError(f"class maps differ in size: {self._previous.shape} then {labels.shape}")
            self._changed.append(float(np.count_nonzero(self._previous != labels)) / labels.size)
        self._previous = labels
        self._top.append(top_class(labels, self.ignore))

    def result(self) -> Flicker:
        """The flicker of the frames added so far."""
        counts = Counter(self._top)
        majority = counts.most_common(1)[0][0] if counts else 0
        return Flicker(
            frames=len(self._top),
            changed=tuple(self._changed),
            top=tuple(self._top),
            majority=majority,
            off_majority=sum(t != majority for t in self._top),
        )


def flicker(label_maps: list[np.ndarray] | tuple[np.ndarray, ...], ignore: tuple[int, ...] = (0,)) -> Flicker:
    """The flicker of a sequence of same-sized class maps.

    Args:
        label_maps: The clip's class maps, in frame order, all of one size.
        ignore: Class ids not counted for the top class (default: the background, 0).
    """
    if not isinstance(label_maps, (list, tuple)) or not all(isinstance(m, np.ndarray) for m in label_maps):
        raise OptionsError("label_maps must be a list of class maps (2-D arrays), one per frame")
    meter = FlickerMeter(ignore)
    for labels in label_maps:
        meter.add(labels)
    return meter.result()
