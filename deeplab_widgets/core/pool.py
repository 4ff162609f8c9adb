"""Several interpreters of one model, for threads that segment at the same time.

One interpreter runs one `invoke()` at a time (its lock serialises callers). Two 1-thread interpreters
running two images at once use a 2-core machine better than one 2-thread interpreter running them in turn:
XNNPACK's threads wait for each other inside every operator, and decoding the next image fits into those
gaps. `benchmarks/batch_throughput.py` and `benchmarks/video_throughput.py` measure it.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from .runtime import RUNNERS, Runner
from .segmenter import Segmenter


class OwnInterpreter(Segmenter):
    """A Segmenter that runs the `k`-th extra interpreter (k >= 1) of its model and options, not the shared one.

    The extra interpreters live in the process-wide cache too (built once, reused by the next pool, freed
    by `Segmenter.close()` with the model's others).

    Args:
        base: The segmenter whose model, options, resize mode and pixel limit it copies.
        k: Which extra interpreter (1, 2, ...): the same `k` is the same interpreter.
    """

    def __init__(self, base: Segmenter, k: int) -> None:
        super().__init__(base.spec, base.options, resize=base.resize, max_pixels=base.max_pixels)
        self.k = k

    @property
    def runner(self) -> Runner:
        """This segmenter's own interpreter."""
        return RUNNERS.get(f"{self.spec.run_key}#{self.k}", self.spec.run_content, self.options, holder=self)


def with_threads(segmenter: Segmenter, threads: int) -> Segmenter:
    """`segmenter` itself when it already runs `threads` interpreter threads, else the same model with that many.

    Args:
        segmenter: The segmenter.
        threads: Interpreter threads wanted.
    """
    options = replace(segmenter.options, num_threads=threads)
    return segmenter if segmenter.options == options else segmenter.with_options(options)


class SegmenterPool:
    """`size` segmenters of one model with `threads` interpreter threads each; `borrow()` lends one.

    The first is the process-wide cached interpreter for those options, the others are extra interpreters
    kept in the same cache for the next pool, so making a pool again costs nothing. Each segmenter's lock still guards its own
    interpreter; the pool only hands out a free one.

    Args:
        segmenter: The model to lend (its resize mode and pixel limit too).
        size: Segmenters in the pool, each with an interpreter of its own.
        threads: Interpreter threads of each.
    """

    def __init__(self, segmenter: Segmenter, *, size: int, threads: int) -> None:
        first = with_threads(segmenter, threads)
        self.size = size
        self._free: queue.SimpleQueue[Segmenter] = queue.SimpleQueue()
        self._free.put(first)
        for k in range(1, size):
            spare = OwnInterpreter(first, k)
            spare.runner  # noqa: B018 - built now, not inside the first timed segment()
            self._free.put(spare)

    @contextmanager
    def borrow(self) -> Iterator[Segmenter]:
        """A free segmenter for the `with` block (waits while all are in use)."""
        segmenter = self._free.get()
        try:
            yield segmenter
        finally:
            self._free.put(segmenter)
