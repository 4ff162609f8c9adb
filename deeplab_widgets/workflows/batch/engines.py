"""Where the images of a batch are segmented: in threads of this process, in worker processes, or on Dask.

Every engine has the same small interface: `submit(job)` returns a handle, `result(handle)` the job's
`ImageRecord`; `window` is how many jobs may be in flight; `close()` stops it. Workers rebuild the segmenter
from a picklable `SegmenterRecipe` and keep one per process.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...core.pool import SegmenterPool, with_threads
from ...core.preprocess import ResizeMode
from ...core.runtime import RuntimeOptions
from ...core.segmenter import Segmenter
from ...errors import DependencyError
from .jobs import Job, run_job
from .records import ImageRecord


@dataclass(frozen=True)
class SegmenterRecipe:
    """How a worker rebuilds the segmenter (a Segmenter holds an interpreter, which cannot be pickled)."""

    digest: str
    model: str | bytes = field(compare=False, repr=False)  # zoo id, or the model's bytes
    labels: tuple[str, ...] | None
    options: RuntimeOptions
    resize: ResizeMode
    max_pixels: int

    @classmethod
    def of(cls, segmenter: Segmenter, options: RuntimeOptions | None = None) -> SegmenterRecipe:
        """The recipe for `segmenter` (a zoo model travels by id, any other model by its bytes)."""
        spec = segmenter.spec
        zoo_id = spec.zoo.name if spec.zoo is not None else None
        return cls(
            digest=spec.digest,
            model=zoo_id or spec.content,
            labels=spec.class_names,
            options=options or segmenter.options,
            resize=segmenter.resize,
            max_pixels=segmenter.max_pixels,
        )

    def build(self) -> Segmenter:
        """A Segmenter for this recipe (in the calling process)."""
        return Segmenter(self.model, self.options, labels=self.labels, resize=self.resize, max_pixels=self.max_pixels)


# One Segmenter per recipe per process: the worker initialiser or the first Dask task fills it.
_WORKER_SEGMENTERS: dict[SegmenterRecipe, Segmenter] = {}
_WORKER_LOCK = threading.Lock()


def worker_segmenter(recipe: SegmenterRecipe) -> Segmenter:
    """This process's cached Segmenter for `recipe`, built on first use."""
    with _WORKER_LOCK:
        seg = _WORKER_SEGMENTERS.get(recipe)
        if seg is None:
            seg = _WORKER_SEGMENTERS[recipe] = recipe.build()
        return seg


def _init_worker(recipe: SegmenterRecipe) -> None:
    worker_segmenter(recipe)


def _pool_task(recipe: SegmenterRecipe, job: Job) -> ImageRecord:
    return run_job(worker_segmenter(recipe), job)


class _Threads:
    """Images in threads of this process: decoding, fitting and PNG encoding of some images overlap the
    `invoke()` of others (Pillow and LiteRT release the GIL). `interpreters` 1: every thread shares one
    interpreter (its lock serialises `invoke()`); otherwise each thread has an interpreter of its own.
    Needs no `if __name__ == "__main__":` guard and starts in milliseconds.
    """

    def __init__(self, segmenter: Segmenter, *, workers: int, interpreters: int, threads: int) -> None:
        # One interpreter: every thread shares it, and its lock serialises invoke() alone.
        self._shared = with_threads(segmenter, threads) if interpreters == 1 else None
        self._segmenters = SegmenterPool(segmenter, size=interpreters, threads=threads) if interpreters > 1 else None
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deeplab-widgets-batch")
        self.window = 2 * workers
        what = "1 shared interpreter" if interpreters == 1 else f"{workers} interpreters"
        self.name = f"{workers} threads, {what} x {threads} interpreter thread{'s' * (threads > 1)}"

    def _run(self, job: Job) -> ImageRecord:
        if self._shared is not None:
            return run_job(self._shared, job)
        assert self._segmenters is not None
        with self._segmenters.borrow() as segmenter:
            return run_job(segmenter, job)

    def submit(self, job: Job) -> Future:
        return self.pool.submit(self._run, job)

    def result(self, handle: Future) -> ImageRecord:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Serial:
    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter, self.window, self.name = segmenter, 1, "serial"

    def submit(self, job: Job) -> Job:
        return job

    def result(self, handle: Job) -> ImageRecord:
        return run_job(self.segmenter, handle)

    def close(self) -> None:
        pass


class _Processes:
    def __init__(self, recipe: SegmenterRecipe, workers: int) -> None:
        self.recipe, self.window, self.name = recipe, 4 * workers, f"{workers} processes"
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(recipe,),
        )

    def submit(self, job: Job) -> Future:
        return self.pool.submit(_pool_task, self.recipe, job)

    def result(self, handle: Future) -> ImageRecord:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    def __init__(self, recipe: SegmenterRecipe, client: Any, scheduler: str | None) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise DependencyError(f"Dask is not installed ({exc}); pip install 'deeplab-widgets[dask]'") from None
        self.owns = client is None
        self.client = Client(scheduler) if client is None else client
        workers = max(1, sum(self.client.nthreads().values()))
        self.window, self.name = 4 * workers, f"dask ({len(self.client.nthreads())} workers)"
        self.recipe = self.client.scatter(recipe, broadcast=True, hash=False)
        self.futures: list[Any] = []

    def submit(self, job: Job) -> Any:
        future = self.client.submit(_pool_task, self.recipe, job, pure=False)
        self.futures.append(future)
        return future

    def result(self, handle: Any) -> ImageRecord:
        return handle.result()

    def close(self) -> None:
        pending = [f for f in self.futures if not f.done()]
        if pending:
            self.client.cancel(pending)
        if self.owns:
            self.client.close()
