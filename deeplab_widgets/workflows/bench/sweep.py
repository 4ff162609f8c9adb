"""`sweep()`: benchmark every combination of models, backends, delegates, XNNPACK and thread counts."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.images import ImageInput
from ...core.model import ModelSpec
from ...core.runtime import (
    RuntimeOptions,
    available_backends,
    backend_module,
    check_backend,
    cpu_count,
    load_delegate,
)
from ...core.segmenter import Segmenter, SegmenterInput
from ...deprecation import deprecated
from ...errors import OptionsError
from .latency import DEFAULT_RUNS, DEFAULT_WARMUP, BenchmarkResult, as_spec, benchmark, check_counts
from .pipeline import DEFAULT_PHOTO, PipelineResult, Render, benchmark_pipeline
from .tables import latency_text_table, write_table

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
        return latency_text_table(self.rows())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tidy table as CSV or JSON, chosen by the file extension.

        Args:
            path: A `.csv` or `.json` file (written atomically).
        """
        return write_table(self.rows(), path)


@dataclass(frozen=True)
class SweepProgress:
    """Where a running `sweep()` is, counted in timed runs (warm-up and first runs not counted).

    `runs_total` is configurations x requested runs; a configuration that `max_seconds` ends early counts
    as all its runs done. `result` is set on the call made when a configuration has just finished.
    """

    runs_done: int
    runs_total: int
    configs_done: int
    configs_total: int
    label: str
    result: AnyResult | None = None


def _as_tuple(value: Any) -> tuple:
    if value is None or isinstance(value, (str, bool, int, os.PathLike, ModelSpec, Segmenter, bytes)):
        return (value,)
    return tuple(value)


def _backend_names(backends: str | Sequence[str]) -> list[str]:
    names = list(_as_tuple(backends))
    if names == ["installed"]:
        return available_backends()
    return names


def sweep(
    models: SegmenterInput | Sequence[SegmenterInput] = "deeplabv3-starter",
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
    on_progress: Callable[[SweepProgress], None] | None = None,
    on_step: Callable[[int, int, str], None] | None = None,
) -> Sweep:
    """Benchmark every combination of models x backends x delegates x XNNPACK x threads (default 1..cores).

    Every option is validated and every model loaded before the first run, so bad input fails fast. Thread
    counts above this machine's cores are refused (`OptionsError` from `RuntimeOptions`), not clamped:
    oversubscribed threads would measure contention, and a silently changed setting would mislabel the row.

    Args:
        models: One model or several: zoo ids, `.tflite` paths or bytes, `ModelSpec`s or `Segmenter`s (their
            models are timed; the options come from the other arguments).
        threads: Interpreter thread counts (default: 1 to this machine's cores).
        xnnpack: `True`, `False` or both.
        delegates: External delegate libraries to load (None: no delegate).
        backends: `"auto"`, `"litert"`, `"tflite-runtime"`, several of them, or `"installed"` (every backend
            importable here).
        pipeline: Time the whole pipeline on `image` (default: the cat photo) instead of `invoke()` alone.
        runs: Timed runs per configuration.
        warmup: Untimed runs per configuration after the first one.
        max_seconds: Stop timing a configuration after this many seconds.
        image: The input (default: random values, or the cat photo with `pipeline=True`).
        render: The pipeline's render stage (see `benchmark_pipeline`).
        progress: Show a tqdm progress bar, one step per configuration.
        on_progress: Called with a `SweepProgress` after every timed run and, with its `result`, after every
            configuration, so a caller can show progress in runs and keep the finished results if the sweep
            is stopped (the Benchmark tab does).
        on_step: Deprecated: use `on_progress` (its `configs_done`, `configs_total` and `label` after each
            configuration are what `on_step(done, total, label)` received).

    Returns:
        Every configuration's result, in order.

    Raises:
        OptionsError: Bad counts, no models, an empty list, or a thread count outside 1..cores.
        BackendError, DelegateError: A backend that is not installed, a delegate that does not load.
        ModelNotFoundError, ModelFormatError: A model that cannot be loaded.
    """
    from tqdm.auto import tqdm  # here, not at import: in a notebook it loads ipywidgets

    if on_step is not None:
        deprecated("sweep(on_step=...)", "pass on_progress=, whose SweepProgress has the same counts and label")
        on_progress = _with_steps(on_progress, on_step)

    check_counts(runs, warmup, max_seconds)
    specs = [as_spec(m) for m in _as_tuple(models)]
    if not specs:
        raise OptionsError("no models to benchmark")
    thread_counts = _as_tuple(threads) if threads is not None else tuple(range(1, cpu_count() + 1))
    backend_names = tuple(_backend_names(backends))
    combos = [
        (spec, RuntimeOptions(num_threads=n, xnnpack=bool(x), delegate=d, backend=check_backend(b)))
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
    total = len(combos)
    with tqdm(total=total, desc="benchmark", disable=not progress, leave=False) as bar:
        for i, (spec, opts) in enumerate(combos, 1):
            label = f"{spec.name}, {backend_module(opts.backend)[0]}, {opts.describe()}"
            bar.set_postfix_str(label, refresh=False)
            runs_before = (i - 1) * runs
            done_here = 0

            def one_run(label: str = label, runs_before: int = runs_before, configs_done: int = i - 1) -> None:
                nonlocal done_here
                done_here += 1
                if on_progress:
                    on_progress(SweepProgress(runs_before + done_here, total * runs, configs_done, total, label))

            if pipeline:
                photo = DEFAULT_PHOTO if image is None else image
                result: AnyResult = benchmark_pipeline(
                    spec,
                    opts,
                    image=photo,
                    runs=runs,
                    warmup=warmup,
                    max_seconds=max_seconds,
                    render=render,
                    on_run=one_run,
                )
            else:
                result = benchmark(
                    spec, opts, runs=runs, warmup=warmup, max_seconds=max_seconds, image=image, on_run=one_run
                )
            results.append(result)
            bar.update()
            if on_progress:
                on_progress(SweepProgress(i * runs, total * runs, i, total, label, result))
    return Sweep(tuple(results))


def _with_steps(
    on_progress: Callable[[SweepProgress], None] | None, on_step: Callable[[int, int, str], None]
) -> Callable[[SweepProgress], None]:
    """An `on_progress` that also calls a deprecated `on_step(done, total, label)` after each configuration."""

    def report(progress: SweepProgress) -> None:
        if on_progress is not None:
            on_progress(progress)
        if progress.result is not None:
            on_step(progress.configs_done, progress.configs_total, progress.label)

    return report


def parse_list(text: str, kind: type = int) -> tuple:
    """Parse a comma-separated option such as "1,2" or "on,off" (for the CLI and widgets); `OptionsError` if bad.

    Args:
        text: Comma-separated words, e.g. `"1,2"` or `"on,off"`.
        kind: `int`, `float`, `str`, or `bool` (on/off, true/false, 1/0, yes/no).
    """
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
