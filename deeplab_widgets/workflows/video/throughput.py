"""Frames per second of `segment_video` against a reference measured in the same rounds.

The reference is one `invoke()` per frame on one interpreter with all the options' threads: `1000 / median
invoke() ms`. It is not a physical bound. On 2 cores a 2-thread `invoke()` keeps both cores only partly busy
(XNNPACK's threads wait for each other inside every operator), so `segment_video`'s default, two frames at once on
two 1-thread interpreters, can beat it. Each round times bare invokes, then the clip both ways in alternating
order, so every figure in a round saw the same load; ratios to the reference are taken per round.
`benchmarks/video_throughput.py` measures the same ratios with more detail (CPU time, decoding alone).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from ...core.checks import check_int
from ...core.segmenter import Segmenter
from .reader import VideoSource
from .segment import _interpreters, segment_video

#: Bare invokes timed per round for the reference.
REFERENCE_RUNS = 30


@dataclass(frozen=True)
class VideoThroughput:
    """Per round: the reference rate and the frames per second of `segment_video` with its default interpreters
    (`parallel`, that many frames at once on 1-thread interpreters) and with `interpreters=1` (`single`)."""

    frames: int  # frames per pass over the clip
    threads: int  # the options' threads: the reference interpreter's, shared out in the parallel pass
    parallel: int  # frames at once in the default pass
    reference_fps: tuple[float, ...]
    parallel_fps: tuple[float, ...]
    single_fps: tuple[float, ...]

    @property
    def parallel_ratios(self) -> tuple[float, ...]:
        """Per round: the default pass's frames per second over the reference."""
        return tuple(f / r for f, r in zip(self.parallel_fps, self.reference_fps, strict=True))

    @property
    def single_ratios(self) -> tuple[float, ...]:
        """Per round: the one-interpreter pass's frames per second over the reference."""
        return tuple(f / r for f, r in zip(self.single_fps, self.reference_fps, strict=True))

    def describe(self) -> str:
        """Medians over the rounds, and each round's ratios."""

        def med(xs: tuple[float, ...]) -> float:
            return statistics.median(xs)

        def each(xs: tuple[float, ...]) -> str:
            return ", ".join(f"{x:.2f}" for x in xs)

        return (
            f"reference (one {self.threads}-thread invoke() per frame): {med(self.reference_fps):.1f} frames/s\n"
            f"segment_video, {self.parallel} frames at once on 1-thread interpreters: {med(self.parallel_fps):.1f} "
            f"frames/s, {med(self.parallel_ratios):.2f} of the reference (rounds: {each(self.parallel_ratios)})\n"
            f"segment_video, interpreters=1: {med(self.single_fps):.1f} frames/s, "
            f"{med(self.single_ratios):.2f} of the reference (rounds: {each(self.single_ratios)})"
        )


def _reference_fps(segmenter: Segmenter) -> float:
    runner = segmenter.runner
    times = []
    with runner.lock:
        for _ in range(REFERENCE_RUNS):
            t0 = time.perf_counter()
            runner.invoke()
            times.append(time.perf_counter() - t0)
    return 1.0 / statistics.median(times)


def _fps(source: VideoSource, segmenter: Segmenter, limit: int, interpreters: int | None) -> float:
    t0 = time.perf_counter()
    n = sum(1 for _ in segment_video(source, segmenter, limit=limit, interpreters=interpreters, progress=False))
    return n / (time.perf_counter() - t0)


def video_throughput(source: VideoSource, segmenter: Segmenter, *, rounds: int = 3, limit: int = 60) -> VideoThroughput:
    """Time `segment_video` (class maps only) over the first `limit` frames against the reference, in `rounds`.

    A warm-up pass of each kind comes first (interpreters built, weights packed).

    Args:
        source: A video file's path or a sample video's name.
        segmenter: The model and options (its threads make the reference interpreter and are shared out in the
            default pass).
        rounds: Rounds (at least 1); the passes' order alternates between rounds.
        limit: Frames per pass (at least 1).

    Raises:
        OptionsError: `rounds` or `limit` below 1; and the errors of `segment_video`.
    """
    rounds = check_int("rounds", rounds, minimum=1)
    limit = check_int("limit", limit, minimum=1)
    count = _interpreters(segmenter, None, False)  # segment_video's default for class maps only
    for interpreters in (None, 1):
        _fps(source, segmenter, min(limit, 4), interpreters)
    reference: list[float] = []
    default: list[float] = []
    single: list[float] = []
    for r in range(rounds):
        reference.append(_reference_fps(segmenter))
        order = (None, 1) if r % 2 == 0 else (1, None)
        for interpreters in order:
            fps = _fps(source, segmenter, limit, interpreters)
            (default if interpreters is None else single).append(fps)
    return VideoThroughput(
        frames=limit,
        threads=segmenter.options.num_threads,
        parallel=count,
        reference_fps=tuple(reference),
        parallel_fps=tuple(default),
        single_fps=tuple(single),
    )
