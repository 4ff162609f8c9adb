"""`benchmark()`: time `invoke()` the way TFLite's `benchmark_model` does, and the statistics it reports.

`benchmark()` reports what `benchmark_model` does: initialisation (a fresh interpreter, created and
allocated), the first inference, warm-up runs, then steady-state statistics and resident-memory growth.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from ...core.images import ImageInput, load_image
from ...core.model import ModelSpec, load_model
from ...core.preprocess import fit
from ...core.runtime import RuntimeOptions, backend_module, cpu_count, make_interpreter
from ...core.segmenter import Segmenter, SegmenterInput
from ...errors import OptionsError
from ..samples import resolve_image
from .tables import latency_row

#: `benchmark_model`'s defaults: 1 warm-up run, then 50 timed runs.
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 1


@dataclass(frozen=True)
class QuotedLatency:
    """A latency from the published TFLite table (TensorFlow Lite's segmentation page), not measured here."""

    device: str
    processor: str  # "GPU" or "CPU"
    threads: int | None
    ms: float


#: The published TFLite table for the starter DeepLab v3 (2.7 MB), measured with `benchmark_model` on phones.
PUBLISHED_LATENCIES = (
    QuotedLatency("Pixel 3", "GPU", None, 16.0),
    QuotedLatency("Pixel 3", "CPU", 4, 37.0),
    QuotedLatency("Pixel 4", "GPU", None, 20.0),
    QuotedLatency("Pixel 4", "CPU", 4, 23.0),
    QuotedLatency("iPhone XS", "GPU", None, 16.0),
    QuotedLatency("iPhone XS", "CPU", 2, 25.0),
)


@dataclass(frozen=True)
class LatencyStats:
    """Summary statistics of repeated timings, in milliseconds (std is the population std, as benchmark_model)."""

    count: int
    min_ms: float
    max_ms: float
    mean_ms: float
    std_ms: float
    p5_ms: float
    median_ms: float
    p95_ms: float

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> LatencyStats:
        """Statistics of a non-empty list of timings; an empty one raises `OptionsError`.

        Args:
            samples_ms: Timings in milliseconds.
        """
        if len(samples_ms) == 0:
            raise OptionsError("no timings to summarise")
        a = np.asarray(samples_ms, np.float64)
        p5, p50, p95 = np.percentile(a, [5, 50, 95])
        return cls(
            count=len(a),
            min_ms=float(a.min()),
            max_ms=float(a.max()),
            mean_ms=float(a.mean()),
            std_ms=float(a.std()),
            p5_ms=float(p5),
            median_ms=float(p50),
            p95_ms=float(p95),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def machine_description() -> str:
    """This machine in a few words, for labelling measurements, e.g. "x86_64, 2 cores (AMD EPYC)"."""
    name = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = f"{cpu_count()} core{'s' * (cpu_count() > 1)}"
    return f"{platform.machine()}, {cores}" + (f" ({name})" if name else "")


#: CPU feature flags (`/proc/cpuinfo`) of the 8-bit dot-product instructions that make int8 kernels faster than float.
DOT_PRODUCT_FLAGS = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "asimddp": "ARM dot product (sdot)"}


def int8_dot_product(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> tuple[str, ...] | None:
    """The 8-bit dot-product instruction sets of this CPU (names from `DOT_PRODUCT_FLAGS`); None if unknown.

    XNNPACK's static int8 convolutions beat its float ones mainly through these instructions: with AVX2 alone they
    do about as many multiply-accumulates per cycle as float (`benchmarks/RESULTS.md`, "The bound on this CPU").
    Read from the flags of `cpuinfo` (Linux's `/proc/cpuinfo`); every Apple silicon Mac has ARM's; elsewhere None.

    Args:
        cpuinfo: The file that lists the CPU's flags (x86: `flags`, ARM: `Features`).
    """
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return (DOT_PRODUCT_FLAGS["asimddp"],)
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return None
    flags = {f for line in lines if line.startswith(("flags", "Features")) for f in line.split(":", 1)[1].split()}
    if not flags:
        return None
    return tuple(name for flag, name in DOT_PRODUCT_FLAGS.items() if flag in flags)


def options_dict(options: RuntimeOptions) -> dict[str, Any]:
    """Runtime options as a JSON-ready dict (for the results' `to_dict()`).

    Args:
        options: The runtime options.
    """
    return {
        "num_threads": options.num_threads,
        "xnnpack": options.xnnpack,
        "delegate": options.delegate,
        "delegate_options": dict(options.delegate_options),
        "backend": options.backend,
    }


@dataclass(frozen=True)
class BenchmarkResult:
    """One `benchmark_model`-style measurement of `invoke()` for a model and runtime options."""

    model: str
    options: RuntimeOptions
    backend: str  # the backend actually used ("auto" resolved)
    input: str  # "random" or the photo's name
    init_ms: float  # interpreter creation + allocate_tensors
    first_ms: float  # the first invoke (includes one-time packing of weights)
    warmup_ms: tuple[float, ...]
    samples_ms: tuple[float, ...] = field(repr=False)
    stats: LatencyStats
    rss_init_mb: float  # resident memory growth from creating the interpreter
    rss_peak_mb: float  # the largest resident-memory growth seen during the whole run (sampled per run)
    requested_runs: int
    stopped_early: bool  # True when max_seconds ended the run before requested_runs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict, including every timing."""
        return {
            "model": self.model,
            "options": options_dict(self.options),
            "backend": self.backend,
            "input": self.input,
            "init_ms": self.init_ms,
            "first_ms": self.first_ms,
            "warmup_ms": list(self.warmup_ms),
            "samples_ms": list(self.samples_ms),
            "stats": self.stats.to_dict(),
            "rss_init_mb": self.rss_init_mb,
            "rss_peak_mb": self.rss_peak_mb,
            "requested_runs": self.requested_runs,
            "stopped_early": self.stopped_early,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row (see `ROW_FIELDS`)."""
        warm = float(np.mean(self.warmup_ms)) if self.warmup_ms else None
        extra = {
            "init_ms": self.init_ms,
            "first_ms": self.first_ms,
            "warmup_ms": warm,
            "rss_init_mb": self.rss_init_mb,
            "rss_peak_mb": self.rss_peak_mb,
        }
        return [latency_row(self.model, self.options, self.backend, self.input, "invoke", self.stats, extra)]

    def summary(self) -> str:
        """The numbers in `benchmark_model`'s own wording (microseconds)."""
        warm = f"{np.mean(self.warmup_ms) * 1e3:.0f}" if self.warmup_ms else "n/a"
        s = self.stats
        return (
            f"{self.model} ({self.backend}, {self.options.describe()}, input {self.input})\n"
            f"Inference timings in us: Init: {self.init_ms * 1e3:.0f}, First inference: {self.first_ms * 1e3:.0f}, "
            f"Warmup (avg): {warm}, Inference (avg): {s.mean_ms * 1e3:.0f}\n"
            f"count={s.count} first={self.first_ms * 1e3:.0f} curr={self.samples_ms[-1] * 1e3:.0f} "
            f"min={s.min_ms * 1e3:.0f} max={s.max_ms * 1e3:.0f} avg={s.mean_ms * 1e3:.0f} std={s.std_ms * 1e3:.0f} "
            f"p5={s.p5_ms * 1e3:.0f} median={s.median_ms * 1e3:.0f} p95={s.p95_ms * 1e3:.0f}\n"
            f"Memory footprint delta from the start of the tool (MB): init={self.rss_init_mb:.2f} "
            f"overall={self.rss_peak_mb:.2f}"
        )


def check_counts(runs: int, warmup: int, max_seconds: float | None) -> None:
    """Refuse run counts and time limits that cannot be measured (`OptionsError`).

    Args:
        runs: Timed runs, at least 1.
        warmup: Untimed runs, 0 or more.
        max_seconds: A positive time limit in seconds, or None.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise OptionsError(f"runs must be a positive whole number, not {runs!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise OptionsError(f"warmup must be a whole number >= 0, not {warmup!r}")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise OptionsError(f"max_seconds must be a positive number of seconds, not {max_seconds!r}")


def as_spec(model: SegmenterInput) -> ModelSpec:
    """A loaded model: a zoo id, path or bytes is loaded; a `ModelSpec` is used as it is, a `Segmenter`'s spec too.

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter`.
    """
    if isinstance(model, Segmenter):
        return model.spec
    return model if isinstance(model, ModelSpec) else load_model(model)


def describe_image(image: ImageInput) -> str:
    """How a benchmark labels its input: a file's name, a sample's name, or the object's type.

    Args:
        image: A path, a sample name, bytes or an in-memory image.
    """
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name if Path(image).suffix else str(image)
    return f"<{type(image).__name__}>"


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss / 2**20)


def _random_input(shape: Sequence[int], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def benchmark(
    model: SegmenterInput = "deeplabv3-starter",
    options: RuntimeOptions | None = None,
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    max_seconds: float | None = None,
    image: ImageInput | None = None,
    seed: int = 0,
    on_run: Callable[[], None] | None = None,
) -> BenchmarkResult:
    """Time `invoke()` like `benchmark_model`: init, first run, warm-up, then `runs` runs or `max_seconds`.

    A fresh interpreter is built so initialisation is really measured; the Segmenter's cache is not touched.

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter` (whose options are the
            default for `options`).
        options: Threads, XNNPACK, delegate and backend (default: the segmenter's, or `RuntimeOptions()`).
        runs: Timed runs (`benchmark_model`'s default: 50).
        warmup: Untimed runs after the first one.
        max_seconds: Stop timing after this many seconds, even before `runs` runs.
        image: The input, as a path, sample name, bytes or PIL image, fitted by stretching (default: random
            values, as `benchmark_model`).
        seed: The random input's seed.
        on_run: Called after each timed run (not after the first run or the warm-up), e.g. for a progress bar.

    Raises:
        OptionsError: Bad counts.
        ModelNotFoundError, BackendError, DelegateError: The model's and the backend's errors.
        ImageNotFoundError, ImageDecodeError: The image's errors.
    """
    check_counts(runs, warmup, max_seconds)
    spec = as_spec(model)
    options = options or (model.options if isinstance(model, Segmenter) else RuntimeOptions())
    backend, _ = backend_module(options.backend)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    interpreter = make_interpreter(spec.content, options)
    init_ms = (time.perf_counter() - t0) * 1e3
    rss_init = _rss_mb()
    detail = interpreter.get_input_details()[0]
    if image is None:
        interpreter.set_tensor(
            detail["index"], _random_input(detail["shape"], detail["dtype"], np.random.default_rng(seed))
        )
        described = "random"
    else:
        photo = load_image(resolve_image(image))
        pixels, _ = fit(photo, spec.input_size, "stretch")
        spec.feed(interpreter, pixels)
        described = describe_image(image)
    rss_peak = rss_init

    def timed() -> float:
        nonlocal rss_peak
        t = time.perf_counter()
        interpreter.invoke()
        ms = (time.perf_counter() - t) * 1e3
        rss_peak = max(rss_peak, _rss_mb())
        return ms

    first_ms = timed()
    warm = tuple(timed() for _ in range(warmup))
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds if max_seconds else math.inf
    while len(samples) < runs:
        samples.append(timed())
        if on_run:
            on_run()
        if time.perf_counter() >= deadline:
            break
    return BenchmarkResult(
        model=spec.name,
        options=options,
        backend=backend,
        input=described,
        init_ms=init_ms,
        first_ms=first_ms,
        warmup_ms=warm,
        samples_ms=tuple(samples),
        stats=LatencyStats.from_samples(samples),
        rss_init_mb=rss_init - rss0,
        rss_peak_mb=rss_peak - rss0,
        requested_runs=runs,
        stopped_early=len(samples) < runs,
    )
