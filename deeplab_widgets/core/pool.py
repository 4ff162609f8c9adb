"""Several interpreters of one model, for threads that segment at the same time.

One interpreter runs one `invoke()` at a time (its lock serialises callers). Two 1-thread interpreters
running two images at once use a 2-core machine better than one 2-thread interpreter running them in turn:
XNNPACK's threads wait for each other inside every operator, and decoding the next image fits into those
gaps. `benchmarks/batch_throughput.py` and `benchmarks/video_throughput.py` measure it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from .runtime import Runner, RuntimeOptions, make_interpreter
from .segmenter import Segmenter


class OwnInterpreter(Segmenter):
    """A Segmenter with an interpreter of its own instead of the process-wide cached one."""

    def __init__(self, base: Segmenter, options: RuntimeOptions) -> None:
        super().__init__(base.spec, options, resize=base.resize, max_pixels=base.max_pixels)
        self._own = Runner(make_interpreter(self.spec.run_content, options))

    @property
    def runner(self) -> Runner:
        """This segmenter's own interpreter."""
        return self._own


# Interpreters beyond the cached one, kept for the next pool (model, options, resize, limit, number).
_SPARES: dict[tuple[str, RuntimeOptions, str, int, int], Segmenter] = {}
_MAX_SPARES = 8
_SPARES_LOCK = threading.Lock()


def spare_segmenter(segmenter: Segmenter, k: int) -> Segmenter:
    """The `k`-th extra interpreter (k >= 1) for this segmenter's model and options, built once, then reused."""
    key = (segmenter.spec.run_key, segmenter.options, segmenter.resize, segmenter.max_pixels, k)
    with _SPARES_LOCK:
        seg = _SPARES.get(key)
        if seg is None:
            seg = _SPARES[key] = OwnInterpreter(segmenter, segmenter.options)
            while len(_SPARES) > _MAX_SPARES:
                _SPARES.pop(next(iter(_SPARES)))  # the oldest
        return seg


def with_threads(segmenter: Segmenter, threads: int) -> Segmenter:
    """`segmenter` itself when it already runs `threads` interpreter threads, else the same model with that many."""
    options = replace(segmenter.options, num_threads=threads)
    return segmenter if segmenter.options == options else segmenter.with_options(options)


class SegmenterPool:
    """`size` segmenters of one model with `threads` interpreter threads each; `borrow()` lends one.

    The first is the process-wide cached interpreter for those options, the others are spares kept for
    the next pool, so making a pool again costs nothing. Each segmenter's lock still guards its own
    interpreter; the pool only hands out a free one.
    """

    def __init__(self, segmenter: Segmenter, *, size: int, threads: int) -> None:
        first = with_threads(segmenter, threads)
        self.size = size
        self._free: queue.SimpleQueue[Segmenter] = queue.SimpleQueue()
        self._free.put(first)
        for k in range(1, size):
            self._free.put(spare_segmenter(first, k))

    @contextmanager
    def borrow(self) -> Iterator[Segmenter]:
        """A free segmenter for the `with` block (waits while all are in use)."""
        segmenter = self._free.get()
        try:
            yield segmenter
        finally:
            self._free.put(segmenter)
