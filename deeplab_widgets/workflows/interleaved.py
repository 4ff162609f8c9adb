"""Compare latencies fairly on a busy machine: time several tasks round-robin in one measurement.

Two numbers measured minutes apart (in two notebook cells, say) see different load from other
processes, so their ratio can say more about the machine than about the models. Interleaving the
tasks run by run, rotating which goes first, gives each the same conditions; the system load average
is recorded before and after, and `verdict` says when a difference is within the noise.

Two tasks are compared round by round: each round ran both under the same load, so the ratio of their two times
in a round is free of the load's drift, while each task's own spread over the run is not (a burst of load widens
both). A difference is real when the per-round ratios' 5th-95th percentile range stays on one side of 1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.images import ImageInput, load_image
from ..core.preprocess import fit
from ..core.runtime import RuntimeOptions, make_interpreter
from ..core.segmenter import SegmenterInput, as_segmenter
from ..errors import OptionsError
from ..tflite.schema import operator_model
from .bench import LatencyStats

Task = Callable[[], Any]


@dataclass(frozen=True)
class InterleavedTiming:
    """Per-task timings (ms) from one round-robin measurement, with the load average around it."""

    names: tuple[str, ...]
    samples_ms: tuple[tuple[float, ...], ...]  # per task, in run order
    stats: tuple[LatencyStats, ...]
    rounds: int
    load_before: tuple[float, float, float]  # 1, 5, 15-minute load averages
    load_after: tuple[float, float, float]
    cores: int

    def stat(self, name: str) -> LatencyStats:
        """One task's statistics; raises `OptionsError` for an unknown name.

        Args:
            name: A task's name.
        """
        if name not in self.names:
            raise OptionsError(f"no task named {name!r}; measured: {', '.join(self.names)}")
        return self.stats[self.names.index(name)]

    def ratio(self, slow: str, fast: str) -> float:
        """Median of `slow` over median of `fast` (2.0 = `fast` takes half the time).

        Args:
            slow: The task expected to be slower.
            fast: The task expected to be faster.
        """
        return self.stat(slow).median_ms / self.stat(fast).median_ms

    def round_ratios(self, slow: str, fast: str) -> tuple[float, float]:
        """The 5th-95th percentile range of `slow`'s time over `fast`'s, round by round (paired).

        Args:
            slow: One task's name.
            fast: Another task's name.
        """
        self.stat(slow), self.stat(fast)  # unknown names raise OptionsError
        x, y = (np.asarray(self.samples_ms[self.names.index(n)]) for n in (slow, fast))
        lo, hi = np.percentile(x / y, [5, 95])
        return float(lo), float(hi)

    def distinct(self, a: str, b: str) -> bool:
        """True when one task was the faster in (nearly) every round: the per-round ratios' 5th-95th percentile
        range does not include 1 (a difference, not noise).

        Args:
            a: One task's name.
            b: Another task's name.
        """
        lo, hi = self.round_ratios(a, b)
        return lo > 1 or hi < 1

    def verdict(self, a: str, b: str) -> str:
        """One sentence comparing two tasks, saying plainly when the rounds disagree on which is faster.

        Args:
            a: One task's name.
            b: Another task's name.
        """
        x, y = self.stat(a), self.stat(b)
        fast, slow = (a, b) if x.median_ms <= y.median_ms else (b, a)
        ratio = self.ratio(slow, fast)
        lo, hi = self.round_ratios(slow, fast)
        spread = f"per-round ratio {lo:.2f}-{hi:.2f}, 5-95%"
        if self.distinct(a, b):
            return f"{fast} is {ratio:.2f}x as fast as {slow} ({spread})"
        return f"{fast} vs {slow}: {ratio:.2f}x, but the rounds disagree ({spread}): within the noise of this machine"

    @property
    def busy(self) -> bool:
        """True when the 1-minute load average exceeded the cores at either end: other work competed."""
        return max(self.load_before[0], self.load_after[0]) > self.cores

    def table(self) -> str:
        """A Markdown table: median, 5th-95th percentile and runs per task, then the load line."""
        lines = ["| task | median ms | 5-95% ms | runs |", "|---|---:|---:|---:|"]
        for name, s in zip(self.names, self.stats, strict=True):
            lines.append(f"| {name} | {s.median_ms:.1f} | {s.p5_ms:.1f}-{s.p95_ms:.1f} | {s.count} |")
        return "\n".join(lines) + "\n\n" + self.load_line()

    def load_line(self) -> str:
        """The load averages around the measurement, e.g. "load 1.2 -> 1.9 on 2 cores (busy)"."""
        state = "busy: other processes competed" if self.busy else "quiet enough"
        return f"load average {self.load_before[0]:.1f} -> {self.load_after[0]:.1f} on {self.cores} cores ({state})"


def _load() -> tuple[float, float, float]:
    a, b, c = os.getloadavg()
    return (float(a), float(b), float(c))


def time_interleaved(tasks: Mapping[str, Task], *, rounds: int = 20, warmup: int = 1) -> InterleavedTiming:
    """Run every task once per round, rotating the order each round, and time each call.

    `warmup` untimed rounds come first (weight packing, caches). Raises `OptionsError` for no tasks or
    fewer than 3 rounds (too few to show a spread).

    Args:
        tasks: Name -> a function of no arguments to time.
        rounds: Timed rounds (at least 3).
        warmup: Untimed rounds first.
    """
    names = tuple(tasks)
    if not names:
        raise OptionsError("nothing to time: pass at least one task")
    if rounds < 3 or warmup < 0:
        raise OptionsError(f"need rounds >= 3 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    before = _load()
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            tasks[name]()
            samples[name].append((time.perf_counter() - t) * 1e3)
    after = _load()
    return InterleavedTiming(
        names=names,
        samples_ms=tuple(tuple(samples[n]) for n in names),
        stats=tuple(LatencyStats.from_samples(samples[n]) for n in names),
        rounds=rounds,
        load_before=before,
        load_after=after,
        cores=os.cpu_count() or 1,
    )


def invoke_task(
    model: SegmenterInput, options: RuntimeOptions | None = None, *, image: ImageInput | None = None
) -> Task:
    """A task that runs `invoke()` of a fresh interpreter for `model`, fed with `image` (stretched) or zeros.

    Only the model's own graph runs (no pre- or post-processing), as `benchmark_model` times it.

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter` (see `as_segmenter`).
        options: The fresh interpreter's runtime options (default: the segmenter's, or `RuntimeOptions()`).
        image: The input, fitted by stretching (default: zeros).
    """
    segmenter = as_segmenter(model, options)
    spec = segmenter.spec
    interpreter = make_interpreter(spec.content, segmenter.options)
    if image is not None:
        pixels, _ = fit(load_image(image), spec.input_size, "stretch")
        spec.feed(interpreter, pixels)
    return interpreter.invoke


def operator_task(model: SegmenterInput, index: int, options: RuntimeOptions | None = None) -> Task:
    """A task that runs operator `index` of `model` alone (`tflite.schema.operator_model`), fed with zeros.

    It times one layer's kernel, with nothing around it: interleaved with the same operator of another variant
    of the model (float against int8, say), it shows what the number format does to that kernel on this CPU.
    `ModelFormatError` when the model has no such operator.

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter` (see `as_segmenter`).
        index: The operator's position in the graph (`Layer.index` of `tflite.graph.read_layers`).
        options: The interpreter's runtime options (default: the segmenter's, or `RuntimeOptions()`).
    """
    segmenter = as_segmenter(model, options)
    interpreter = make_interpreter(
        operator_model(segmenter.spec.content, index, segmenter.spec.name), segmenter.options
    )
    return interpreter.invoke
