"""Where the images of a batch are segmented: `Serial()`, `Threads()`, `Processes(n)` or `Dask(client)`.

An engine is a small frozen description (what `segment_many(engine=...)` takes, typed by the `Engine`
protocol); `start(segmenter, jobs)` puts it to work for one run as a `Session`: `submit(job)` returns a
`Pending` whose `result()` is the job's `ImageRecord`, `window` is how many jobs may be in flight, `close()`
stops it. Worker processes rebuild the segmenter from a picklable `SegmenterRecipe` and keep one per process.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from ...core.checks import check_flag, check_int
from ...core.pool import SegmenterPool, with_threads
from ...core.preprocess import ResizeMode
from ...core.runtime import RuntimeOptions, cpu_count
from ...core.segmenter import Segmenter
from ...errors import DependencyError, EngineError, OptionsError
from .jobs import Job, run_job
from .records import ImageRecord

#: How long a `Dask` engine given an address waits for the scheduler to answer (Dask's own default is 30 s).
CONNECT_SECONDS = 5

if TYPE_CHECKING:
    from distributed import Client


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
        """The recipe for `segmenter` (a zoo model travels by id, any other model by its bytes).

        Args:
            segmenter: The segmenter to rebuild in a worker.
            options: The runtime options the worker should use (default: the segmenter's).
        """
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
    """This process's cached Segmenter for `recipe`, built on first use.

    Args:
        recipe: How to build the segmenter.
    """
    with _WORKER_LOCK:
        seg = _WORKER_SEGMENTERS.get(recipe)
        if seg is None:
            seg = _WORKER_SEGMENTERS[recipe] = recipe.build()
        return seg


def _init_worker(recipe: SegmenterRecipe) -> None:
    worker_segmenter(recipe)


def _pool_task(recipe: SegmenterRecipe, job: Job) -> ImageRecord:
    return run_job(worker_segmenter(recipe), job)


class Pending(Protocol):
    """A submitted image: `result()` waits for (or computes) its record."""

    def result(self) -> ImageRecord: ...


class Session(Protocol):
    """An engine at work for one run (made by `Engine.start`, closed by the run)."""

    #: What the run reports as its engine, e.g. "2 processes".
    name: str
    #: How many submitted images may be in flight before the run waits for the oldest.
    window: int

    def submit(self, job: Job) -> Pending:
        """Start (or queue) one image.

        Args:
            job: One image and the files it should produce.
        """
        ...

    def close(self) -> None:
        """Stop: running images finish, queued ones are dropped, pools and owned clients are shut down."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Where a batch's images run: `Serial()`, `Threads()` (the default), `Processes(n)` or `Dask(client)`.

    Any object with this `start` method is an engine.
    """

    def start(self, segmenter: Segmenter, jobs: int) -> Session:
        """Set up for a run of `jobs` images with `segmenter` (called on the first image that needs segmenting).

        Args:
            segmenter: The run's segmenter.
            jobs: How many images the run still holds (an engine never starts more workers than that).
        """
        ...


def _check_threads(value: int | None, what: str) -> None:
    if value is not None:
        check_int(what, value)
        if not 1 <= value <= cpu_count():
            raise OptionsError(f"{what} must be between 1 and {cpu_count()} (this machine's cores), not {value}")


class _Now:
    """A serial job: run when its result is asked for, so a stopped run has written nothing beyond it."""

    def __init__(self, segmenter: Segmenter, job: Job) -> None:
        self.segmenter, self.job = segmenter, job

    def result(self) -> ImageRecord:
        return run_job(self.segmenter, self.job)


class _SerialSession:
    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter, self.window, self.name = segmenter, 1, "serial"

    def submit(self, job: Job) -> Pending:
        return _Now(self.segmenter, job)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Serial:
    """One image after the other in the calling thread, on the segmenter as given (its options' threads)."""

    def start(self, segmenter: Segmenter, jobs: int) -> Session:
        """A serial session: nothing starts until an image's result is asked for.

        Args:
            segmenter: The run's segmenter, used as it is.
            jobs: How many images the run still holds (unused).
        """
        return _SerialSession(segmenter)


class _ThreadSession:
    def __init__(self, segmenter: Segmenter, *, workers: int, interpreters: int, threads: int) -> None:
        # One interpreter: every thread shares it, and its lock serialises invoke() alone.
        self._shared = with_threads(segmenter, threads) if interpreters == 1 else None
        self._segmenters = SegmenterPool(segmenter, size=interpreters, threads=threads) if interpreters > 1 else None
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deeplab-widgets-batch")
        self.window = 2 * workers
        what = "1 shared interpreter" if interpreters == 1 else f"{interpreters} interpreters"
        plural = "s" * (workers > 1)
        self.name = f"{workers} thread{plural}, {what} x {threads} interpreter thread{'s' * (threads > 1)}"

    def _run(self, job: Job) -> ImageRecord:
        if self._shared is not None:
            return run_job(self._shared, job)
        assert self._segmenters is not None
        with self._segmenters.borrow() as segmenter:
            return run_job(segmenter, job)

    def submit(self, job: Job) -> Pending:
        return self.pool.submit(self._run, job)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Threads:
    """Images in threads of this process, each thread with an interpreter of its own: the default engine.

    Decoding, fitting and PNG encoding of some images overlap the `invoke()` of others (Pillow and LiteRT
    release the GIL). Needs no `if __name__ == "__main__":` guard and starts in milliseconds; the extra
    interpreters are built once and kept for later runs (`Segmenter.close()` frees them).

    Args:
        n: Threads, each with its own interpreter (default: one per core; never more than the run's images).
        interpreter_threads: Threads of each interpreter (default: cores / n, at least 1).
        shared: One interpreter shared by all `n` threads (its lock serialises `invoke()`), with
            `interpreter_threads` (default: every core); measured slower than an interpreter per thread.

    Raises:
        OptionsError: `n` or `interpreter_threads` outside 1..cores.
    """

    n: int | None = None
    interpreter_threads: int | None = None
    shared: bool = False

    def __post_init__(self) -> None:
        _check_threads(self.n, "Threads(n)")
        _check_threads(self.interpreter_threads, "interpreter_threads")
        check_flag("shared", self.shared)

    def start(self, segmenter: Segmenter, jobs: int) -> Session:
        """A thread pool with its interpreters, built now.

        Args:
            segmenter: The run's segmenter (its model; the options' threads become `interpreter_threads`).
            jobs: How many images the run still holds: at most that many threads start.
        """
        cores = cpu_count()
        workers = max(1, min(self.n or cores, jobs))
        if self.shared:
            return _ThreadSession(segmenter, workers=workers, interpreters=1, threads=self.interpreter_threads or cores)
        threads = self.interpreter_threads or max(1, cores // workers)
        return _ThreadSession(segmenter, workers=workers, interpreters=workers, threads=threads)


class _ProcessSession:
    def __init__(self, recipe: SegmenterRecipe, workers: int) -> None:
        self.recipe, self.window, self.name = recipe, 4 * workers, f"{workers} process{'es' * (workers > 1)}"
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(recipe,),
        )

    def submit(self, job: Job) -> Pending:
        return self.pool.submit(_pool_task, self.recipe, job)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Processes:
    """Images in `n` worker processes ("spawn"), each with one interpreter built once in the worker.

    A script that uses it must guard its top level with `if __name__ == "__main__":`; starting takes about a
    second (each worker imports the package and loads the model).

    Args:
        n: Worker processes.
        interpreter_threads: Threads of each worker's interpreter (default: cores / n, at least 1).

    Raises:
        OptionsError: `n` below 1, or `interpreter_threads` outside 1..cores.
    """

    n: int
    interpreter_threads: int | None = None

    def __post_init__(self) -> None:
        if check_int("Processes(n)", self.n) < 1:
            raise OptionsError(f"Processes(n) needs at least 1 worker process, not {self.n}")
        _check_threads(self.interpreter_threads, "interpreter_threads")

    def start(self, segmenter: Segmenter, jobs: int) -> Session:
        """A process pool whose workers build the segmenter from its recipe.

        Args:
            segmenter: The run's segmenter, sent to the workers as a `SegmenterRecipe`.
            jobs: How many images the run still holds (unused: the pool has `n` workers).
        """
        threads = self.interpreter_threads or max(1, cpu_count() // self.n)
        return _ProcessSession(SegmenterRecipe.of(segmenter, replace(segmenter.options, num_threads=threads)), self.n)


class _DaskSession:
    def __init__(self, recipe: SegmenterRecipe, client_or_scheduler: Client | str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise DependencyError(f"Dask is not installed ({exc}); pip install 'deeplab-widgets[dask]'") from None
        self.owns = isinstance(client_or_scheduler, str)
        if isinstance(client_or_scheduler, str):
            try:
                self.client = Client(client_or_scheduler, timeout=CONNECT_SECONDS)
            except OSError as exc:
                raise EngineError(
                    f"no Dask scheduler answered at {client_or_scheduler} within {CONNECT_SECONDS} s ({exc}); "
                    "start one (`dask scheduler`) or check the address"
                ) from None
        else:
            self.client = client_or_scheduler
        workers = max(1, sum(self.client.nthreads().values()))
        self.window, self.name = 4 * workers, f"dask ({len(self.client.nthreads())} workers)"
        self.recipe = self.client.scatter(recipe, broadcast=True, hash=False)
        self.futures: list[Any] = []

    def submit(self, job: Job) -> Pending:
        future = self.client.submit(_pool_task, self.recipe, job, pure=False)
        self.futures.append(future)
        return cast(Pending, future)

    def close(self) -> None:
        pending = [f for f in self.futures if not f.done()]
        if pending:
            self.client.cancel(pending)
        if self.owns:
            self.client.close()


@dataclass(frozen=True)
class Dask:
    """Images on a Dask cluster (the `[dask]` extra), one cached interpreter per worker process.

    The inputs and `out_dir` must be paths the workers can reach (any path works on a `LocalCluster`).

    Args:
        client_or_scheduler: A `distributed.Client`, or a scheduler address such as `"tcp://127.0.0.1:8786"`
            (a client is then opened for the run and closed after it).
        interpreter_threads: Threads of each worker's interpreter.

    Raises:
        OptionsError: `interpreter_threads` outside 1..cores, or neither a client nor an address.
        DependencyError: When the run starts, if Dask is not installed.
        EngineError: When the run starts, if no scheduler answers at the address within `CONNECT_SECONDS`.
    """

    client_or_scheduler: Client | str
    interpreter_threads: int = 1

    def __post_init__(self) -> None:
        _check_threads(self.interpreter_threads, "interpreter_threads")
        scheduler = self.client_or_scheduler
        if not isinstance(scheduler, str) and not all(hasattr(scheduler, a) for a in ("submit", "scatter", "nthreads")):
            raise OptionsError(
                f"Dask() needs a distributed.Client or a scheduler address such as 'tcp://127.0.0.1:8786', "
                f"not {type(scheduler).__name__}"
            )

    def start(self, segmenter: Segmenter, jobs: int) -> Session:
        """Connect (or use the client), and send the segmenter's recipe to every worker.

        Args:
            segmenter: The run's segmenter, scattered to every worker as a `SegmenterRecipe`.
            jobs: How many images the run still holds (unused).
        """
        recipe = SegmenterRecipe.of(segmenter, replace(segmenter.options, num_threads=self.interpreter_threads))
        return _DaskSession(recipe, self.client_or_scheduler)
