"""Latency benchmarks with TFLite `benchmark_model` parity, and a per-stage timer of the whole pipeline.

`benchmark()` reports what `benchmark_model` does: initialisation (a fresh interpreter, created and
allocated), the first inference, warm-up runs, then steady-state statistics and resident-memory growth.
`benchmark_pipeline()` times decode -> preprocess -> invoke -> postprocess -> render so users see where
time goes. `sweep()` crosses models, threads, XNNPACK, delegates and backends. LiteRT's Python API has
no per-op profiler, so per-layer cost is estimated from the graph's MAC counts instead (`compute_cost`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import psutil
from PIL import Image

from ..assets.samples import list_samples, sample_path
from ..core.export import atomic_path, mask_image
from ..core.images import ImageInput, load_image
from ..core.model import ModelInput, ModelSpec, load_model
from ..core.preprocess import check_resize, fit
from ..core.runtime import (
    RuntimeOptions,
    available_backends,
    backend_module,
    cpu_count,
    load_delegate,
    make_interpreter,
)
from ..core.segmenter import SegmentationResult, Segmenter
from ..errors import OptionsError

#: `benchmark_model`'s defaults: 1 warm-up run, then 50 timed runs.
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 1
#: The photo the pipeline mode decodes when none is given.
DEFAULT_PHOTO = "cat"
#: Stages of one pipeline run, in order ("other" is `segment()`'s own input checks and bookkeeping).
STAGES = ("decode", "preprocess", "invoke", "postprocess", "render", "other", "total")

#: A render stage: the decoded photo and the result in, encoded bytes out (what a viewer would display).
Render = Callable[[Image.Image, SegmentationResult], bytes]


@dataclass(frozen=True)
class QuotedLatency:
    """A latency quoted by the seed project (TFLite's segmentation page), not measured here."""

    device: str
    processor: str  # "GPU" or "CPU"
    threads: int | None
    ms: float


#: The seed's table for the starter DeepLab v3 (2.7 MB), measured with `benchmark_model` on phones.
SEED_LATENCIES = (
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
        """Statistics of a non-empty list of timings."""
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
    import platform

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


def _options_dict(options: RuntimeOptions) -> dict[str, Any]:
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
            "options": _options_dict(self.options),
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
        return [_row(self.model, self.options, self.backend, self.input, "invoke", self.stats, extra)]

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


@dataclass(frozen=True)
class StageStats:
    """The timings of one pipeline stage over all runs."""

    name: str
    stats: LatencyStats
    samples_ms: tuple[float, ...] = field(repr=False)


@dataclass(frozen=True)
class PipelineResult:
    """Per-stage timings of the whole pipeline: decode, preprocess, invoke, postprocess, render, total."""

    model: str
    options: RuntimeOptions
    backend: str
    input: str
    image_size: tuple[int, int]  # (width, height) of the decoded photo
    render: str  # what the render stage did
    stages: tuple[StageStats, ...]
    requested_runs: int
    stopped_early: bool

    def stage(self, name: str) -> StageStats:
        """One stage by name (see `STAGES`)."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def shares(self) -> dict[str, float]:
        """Each stage's share of the mean total time (means add up; medians do not)."""
        total = self.stage("total").stats.mean_ms
        return {s.name: s.stats.mean_ms / total for s in self.stages if s.name != "total"}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict, including every timing."""
        return {
            "model": self.model,
            "options": _options_dict(self.options),
            "backend": self.backend,
            "input": self.input,
            "image_size": list(self.image_size),
            "render": self.render,
            "stages": {s.name: {"stats": s.stats.to_dict(), "samples_ms": list(s.samples_ms)} for s in self.stages},
            "requested_runs": self.requested_runs,
            "stopped_early": self.stopped_early,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row per stage (see `ROW_FIELDS`)."""
        return [_row(self.model, self.options, self.backend, self.input, s.name, s.stats, {}) for s in self.stages]


#: The columns of the tidy table (`Sweep.rows()`, CSV and JSON exports), with their types.
ROW_FIELDS: dict[str, type] = {
    "model": str,
    "backend": str,
    "threads": int,
    "xnnpack": bool,
    "delegate": str,
    "input": str,
    "stage": str,
    "runs": int,
    "init_ms": float,
    "first_ms": float,
    "warmup_ms": float,
    "min_ms": float,
    "max_ms": float,
    "mean_ms": float,
    "std_ms": float,
    "p5_ms": float,
    "median_ms": float,
    "p95_ms": float,
    "rss_init_mb": float,
    "rss_peak_mb": float,
}


def _row(
    model: str, options: RuntimeOptions, backend: str, inp: str, stage: str, s: LatencyStats, extra: dict
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row.update(
        model=model,
        backend=backend,
        threads=options.num_threads,
        xnnpack=options.xnnpack,
        delegate=os.path.basename(options.delegate) if options.delegate else None,
        input=inp,
        stage=stage,
        runs=s.count,
        min_ms=s.min_ms,
        max_ms=s.max_ms,
        mean_ms=s.mean_ms,
        std_ms=s.std_ms,
        p5_ms=s.p5_ms,
        median_ms=s.median_ms,
        p95_ms=s.p95_ms,
        **extra,
    )
    return row


AnyResult = BenchmarkResult | PipelineResult


@dataclass(frozen=True)
class Sweep:
    """The results of several benchmarks, as a tidy table."""

    results: tuple[AnyResult, ...]

    def rows(self) -> list[dict[str, Any]]:
        """One row per (model, options, stage), columns `ROW_FIELDS`."""
        return [row for r in self.results for row in r.rows()]

    def to_dict(self) -> dict[str, Any]:
        """Every result in full."""
        return {"results": [r.to_dict() for r in self.results]}

    def table(self) -> str:
        """A fixed-width text table for terminals."""
        return format_table(self.rows())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tidy table as CSV or JSON, chosen by the file extension."""
        return write_table(self.rows(), path)


def _check_counts(runs: int, warmup: int, max_seconds: float | None) -> None:
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise OptionsError(f"runs must be a positive whole number, not {runs!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise OptionsError(f"warmup must be a whole number >= 0, not {warmup!r}")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise OptionsError(f"max_seconds must be a positive number of seconds, not {max_seconds!r}")


def _spec(model: ModelInput | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else load_model(model)


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _random_input(shape: Sequence[int], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def _describe_image(image: ImageInput) -> str:
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name if Path(image).suffix else str(image)
    return f"<{type(image).__name__}>"


def _resolve_image(image: ImageInput) -> ImageInput:
    """A sample name becomes its path; anything else is left to `load_image`."""
    if isinstance(image, str) and not Path(image).exists() and image in {s.name for s in list_samples(kind="photo")}:
        return sample_path(image)
    return image


def benchmark(
    model: ModelInput | ModelSpec = "deeplabv3-starter",
    options: RuntimeOptions | None = None,
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    max_seconds: float | None = None,
    image: ImageInput | None = None,
    seed: int = 0,
) -> BenchmarkResult:
    """Time `invoke()` like `benchmark_model`: init, first run, warm-up, then `runs` runs or `max_seconds`.

    The input is random (as `benchmark_model`) unless `image` (a path, sample name, bytes or PIL image) is given.
    A fresh interpreter is built so initialisation is really measured; the Segmenter's cache is not touched.
    """
    _check_counts(runs, warmup, max_seconds)
    options = options or RuntimeOptions()
    spec = _spec(model)
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
        photo = load_image(_resolve_image(image))
        pixels, _ = fit(photo, spec.input_size, "stretch")
        spec.feed(interpreter, pixels)
        described = _describe_image(image)
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


def encode_mask_png(image: Image.Image, result: SegmentationResult) -> bytes:
    """The default render stage: the class map as a palette PNG (what `save_mask` writes), in memory."""
    buf = io.BytesIO()
    mask_image(result.labels, result.colormap).save(buf, format="PNG")
    return buf.getvalue()


def benchmark_pipeline(
    model: ModelInput | ModelSpec = "deeplabv3-starter",
    options: RuntimeOptions | None = None,
    *,
    image: ImageInput = DEFAULT_PHOTO,
    runs: int = 20,
    warmup: int = DEFAULT_WARMUP,
    max_seconds: float | None = None,
    resize: str | None = None,
    render: Render | None = None,
) -> PipelineResult:
    """Time the whole path from encoded photo bytes to a displayable picture, stage by stage.

    Stages: decode (bytes in memory -> RGB), preprocess / invoke / postprocess (from `SegmentationResult.timings`),
    render (`render(photo, result) -> bytes`; default `encode_mask_png`; the viz layer's `render_overlay` colourises
    and blends), other (`segment()` bookkeeping) and total. Uses the Segmenter's cached interpreter.
    """
    _check_counts(runs, warmup, max_seconds)
    if resize is not None:
        check_resize(resize)
    options = options or RuntimeOptions()
    spec = _spec(model)
    backend, _ = backend_module(options.backend)
    source = _resolve_image(image)
    if isinstance(source, (str, os.PathLike)):
        load_image(source)  # a missing or unreadable file fails here with its own error
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:  # an in-memory picture: encode it once so the decode stage has something real to decode
        buf = io.BytesIO()
        load_image(source).save(buf, format="PNG")
        data = buf.getvalue()
    render = render or encode_mask_png
    segmenter = Segmenter(spec, options, resize=resize)
    times: dict[str, list[float]] = {name: [] for name in STAGES}

    def once() -> tuple[float, ...]:
        t0 = time.perf_counter()
        photo = load_image(data)
        t1 = time.perf_counter()
        result = segmenter.segment(photo)
        t2 = time.perf_counter()
        render(photo, result)
        t3 = time.perf_counter()
        tm = result.timings
        seg_ms = (t2 - t1) * 1e3
        return (
            (t1 - t0) * 1e3,
            tm.preprocess_ms,
            tm.invoke_ms,
            tm.postprocess_ms,
            (t3 - t2) * 1e3,
            max(0.0, seg_ms - tm.total_ms),
            (t3 - t0) * 1e3,
        )

    for _ in range(warmup):
        once()
    deadline = time.perf_counter() + max_seconds if max_seconds else math.inf
    done = 0
    while done < runs:
        for name, ms in zip(STAGES, once(), strict=True):
            times[name].append(ms)
        done += 1
        if time.perf_counter() >= deadline:
            break
    size = load_image(data).size
    return PipelineResult(
        model=spec.name,
        options=options,
        backend=backend,
        input=_describe_image(image),
        image_size=size,
        render=(render.__doc__ or render.__name__).strip().splitlines()[0],
        stages=tuple(StageStats(n, LatencyStats.from_samples(t), tuple(t)) for n, t in times.items()),
        requested_runs=runs,
        stopped_early=done < runs,
    )


def _as_tuple(value: Any) -> tuple:
    if value is None or isinstance(value, (str, bool, int, os.PathLike, ModelSpec, bytes)):
        return (value,)
    return tuple(value)


def sweep(
    models: ModelInput | ModelSpec | Sequence[ModelInput | ModelSpec] = "deeplabv3-starter",
    *,
    threads: int | Sequence[int] | None = None,
    xnnpack: bool | Sequence[bool] = True,
    delegates: str | Sequence[str | None] | None = None,
    backends: str | Sequence[str] = "auto",
    pipeline: bool = False,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    max_seconds: float | None = None,
    image: ImageInput | None = None,
    render: Render | None = None,
    progress: bool = True,
    on_step: Callable[[int, int, str], None] | None = None,
) -> Sweep:
    """Benchmark every combination of models x backends x delegates x XNNPACK x threads (default 1..cores).

    Every option is validated and every model loaded before the first run, so bad input fails fast. Thread
    counts above this machine's cores are refused (`OptionsError` from `RuntimeOptions`), not clamped:
    oversubscribed threads would measure contention, and a silently changed setting would mislabel the row.
    `backends="installed"` means every backend importable here. `pipeline=True` times the whole pipeline
    on `image` (default the cat photo) instead of `invoke()` alone. `on_step(done, total, label)` is called
    after each measurement (e.g. by a widget's progress bar); `progress` shows a `tqdm` bar.
    """
    from tqdm.auto import tqdm

    _check_counts(runs, warmup, max_seconds)
    specs = [_spec(m) for m in _as_tuple(models)]
    if not specs:
        raise OptionsError("no models to benchmark")
    thread_counts = _as_tuple(threads) if threads is not None else tuple(range(1, cpu_count() + 1))
    backend_names = tuple(_backend_names(backends))
    combos = [
        (spec, RuntimeOptions(num_threads=n, xnnpack=bool(x), delegate=d, backend=b))
        for spec in specs
        for b in backend_names
        for d in _as_tuple(delegates)
        for x in _as_tuple(xnnpack)
        for n in thread_counts
    ]
    if not combos:
        raise OptionsError("nothing to benchmark: empty threads, xnnpack, delegates or backends")
    for backend in backend_names:
        _, mod = backend_module(backend)  # an uninstalled backend fails here, before any run
        for path in {d for d in _as_tuple(delegates) if d}:
            load_delegate(mod, path, {})  # so does a delegate that cannot load
    results: list[AnyResult] = []
    with tqdm(total=len(combos), desc="benchmark", disable=not progress, leave=False) as bar:
        for i, (spec, opts) in enumerate(combos, 1):
            label = f"{spec.name}, {backend_module(opts.backend)[0]}, {opts.describe()}"
            bar.set_postfix_str(label, refresh=False)
            if pipeline:
                photo = DEFAULT_PHOTO if image is None else image
                results.append(
                    benchmark_pipeline(
                        spec, opts, image=photo, runs=runs, warmup=warmup, max_seconds=max_seconds, render=render
                    )
                )
            else:
                results.append(benchmark(spec, opts, runs=runs, warmup=warmup, max_seconds=max_seconds, image=image))
            bar.update()
            if on_step:
                on_step(i, len(combos), label)
    return Sweep(tuple(results))


def _backend_names(backends: str | Sequence[str]) -> list[str]:
    names = list(_as_tuple(backends))
    if names == ["installed"]:
        return available_backends()
    return names


@dataclass(frozen=True)
class OpCost:
    """The compute of one operator type in a model: layers, multiply-accumulates and parameters."""

    op: str
    layers: int
    macs: int
    params: int
    macs_share: float  # of the model's total MACs


@dataclass(frozen=True)
class ComputeCost:
    """MACs and parameters per op type (from the graph), and the throughput a measured run implies."""

    model: str
    ops: tuple[OpCost, ...]  # most MACs first
    total_macs: int
    total_params: int
    median_ms: float | None  # the measured invoke() median, when a result was given

    @property
    def gflops(self) -> float | None:
        """Implied GFLOP/s of the measured run: 2 x MACs / median time (one MAC = a multiply and an add)."""
        return None if not self.median_ms else 2 * self.total_macs / (self.median_ms * 1e-3) / 1e9

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "gflops": self.gflops}

    def table(self) -> str:
        """A fixed-width text table of the op types, with the totals and implied GFLOP/s."""
        lines = [f"{'op':<20} {'layers':>6} {'MMACs':>9} {'share':>6} {'params':>9}"]
        lines += [f"{o.op:<20} {o.layers:>6} {o.macs / 1e6:>9.1f} {o.macs_share:>6.1%} {o.params:>9}" for o in self.ops]
        lines.append(
            f"{'total':<20} {sum(o.layers for o in self.ops):>6} {self.total_macs / 1e6:>9.1f} {'':>6} "
            f"{self.total_params:>9}"
        )
        if self.gflops is not None:
            lines.append(f"implied throughput: {self.gflops:.1f} GFLOP/s at a median of {self.median_ms:.1f} ms")
        return "\n".join(lines)


def compute_cost(model: ModelInput | ModelSpec, result: BenchmarkResult | None = None) -> ComputeCost:
    """Group the graph's per-layer MACs and parameters by op type; with a result, the implied GFLOP/s.

    LiteRT's Python API has no per-op profiler, so this static breakdown stands in for per-op timings.
    """
    from ..tflite.graph import read_layers

    graph = read_layers(model)
    total = sum(ly.macs for ly in graph.layers)
    grouped: dict[str, list] = {}
    for ly in graph.layers:
        grouped.setdefault(ly.op, []).append(ly)
    ops = [
        OpCost(op, len(lys), sum(ly.macs for ly in lys), sum(ly.params for ly in lys), 0.0)
        for op, lys in grouped.items()
    ]
    ops = [OpCost(o.op, o.layers, o.macs, o.params, o.macs / total if total else 0.0) for o in ops]
    ops.sort(key=lambda o: (-o.macs, -o.params, o.op))
    return ComputeCost(
        model=graph.name,
        ops=tuple(ops),
        total_macs=total,
        total_params=sum(ly.params for ly in graph.layers),
        median_ms=result.stats.median_ms if result is not None else None,
    )


def parse_list(text: str, kind: type = int) -> tuple:
    """Parse a comma-separated option such as "1,2" or "on,off" (for the CLI and widgets)."""
    words = [w.strip().lower() for w in str(text).split(",") if w.strip()]
    if not words:
        raise OptionsError(f"empty list: {text!r}")
    out: list = []
    for w in words:
        if kind is bool:
            if w not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                raise OptionsError(f"expected on or off, not {w!r}")
            out.append(w in ("on", "true", "1", "yes"))
        else:
            try:
                out.append(kind(w))
            except ValueError:
                raise OptionsError(f"expected a {kind.__name__}, not {w!r}") from None
    return tuple(out)


def write_table(rows: Iterable[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write tidy rows atomically as CSV (`.csv`) or JSON (`.json`)."""
    target = Path(path)
    rows = list(rows)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise OptionsError(f"export to .csv or .json, not {target.name!r}")
    with atomic_path(target) as tmp:
        if suffix == ".json":
            tmp.write_text(json.dumps(rows, indent=2) + "\n", "utf-8")
        else:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                write_csv(rows, fh)
    return target


def write_csv(rows: Iterable[dict[str, Any]], stream: TextIO) -> None:
    """Write tidy rows as CSV to an open text stream (empty cells for missing values)."""
    writer = csv.DictWriter(stream, fieldnames=list(ROW_FIELDS))
    writer.writeheader()
    writer.writerows({k: ("" if row.get(k) is None else row.get(k)) for k in ROW_FIELDS} for row in rows)


def _parse_cell(value: str, kind: type) -> Any:
    if value == "":
        return None
    if kind is bool:
        return value == "True"
    return kind(value)


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read rows written by `write_table` back, with their types (CSV) or as stored (JSON)."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        return json.loads(target.read_text("utf-8"))
    with target.open(newline="", encoding="utf-8") as fh:
        return [{k: _parse_cell(v, ROW_FIELDS.get(k, str)) for k, v in row.items()} for row in csv.DictReader(fh)]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return str(value)


#: Columns of the text table: (header, row key).
TABLE_COLUMNS = (
    ("model", "model"),
    ("input", "input"),
    ("backend", "backend"),
    ("thr", "threads"),
    ("xnnpack", "xnnpack"),
    ("delegate", "delegate"),
    ("stage", "stage"),
    ("runs", "runs"),
    ("init", "init_ms"),
    ("first", "first_ms"),
    ("min", "min_ms"),
    ("median", "median_ms"),
    ("mean", "mean_ms"),
    ("std", "std_ms"),
    ("p95", "p95_ms"),
    ("max", "max_ms"),
    ("rss MB", "rss_peak_mb"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as an aligned text table (times in ms); columns that are empty in every row are dropped."""
    cols = [(h, k) for h, k in TABLE_COLUMNS if any(r.get(k) is not None for r in rows)]
    cells = [[h for h, _ in cols]] + [[_cell(r.get(k)) for _, k in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    text_cols = {"model", "input", "backend", "delegate", "stage"}
    lines = []
    for row in cells:
        parts = [c.ljust(w) if h in text_cols else c.rjust(w) for c, w, (h, _) in zip(row, widths, cols, strict=True)]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n(times in ms)"
