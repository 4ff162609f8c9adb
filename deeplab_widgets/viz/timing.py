"""Timing figures: latency vs threads, this machine beside the published TFLite table, where pipeline time goes.

Figures are built with `matplotlib.figure.Figure` (no pyplot state), or drawn into a given `ax`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc

from ..analysis.cost import ComputeCost
from ..errors import OptionsError
from ..workflows.bench import (
    PUBLISHED_LATENCIES,
    BenchmarkResult,
    PipelineResult,
    QuotedLatency,
    Sweep,
    machine_description,
)
from ..workflows.interleaved import InterleavedTiming

PLOT_KINDS = ("errorbar", "box")


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def _figure(ax: Axes) -> Figure:
    """The figure an axes was drawn in (the top-level one when the axes sits in a subfigure)."""
    fig = ax.figure
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _invoke_results(results: Sweep | Sequence[BenchmarkResult | PipelineResult]) -> list[BenchmarkResult]:
    items = list(results.results if isinstance(results, Sweep) else results)
    out = [r for r in items if isinstance(r, BenchmarkResult)]
    if not out:
        raise OptionsError("no invoke() benchmark results to plot (pipeline results go to stage_breakdown)")
    return out


def _series_label(r: BenchmarkResult, varying: set[str]) -> str:
    parts = []
    if "model" in varying:
        parts.append(r.model)
    if "backend" in varying:
        parts.append(r.backend)
    if "xnnpack" in varying:
        parts.append("XNNPACK" if r.options.xnnpack else "no XNNPACK")
    if "delegate" in varying:
        parts.append(f"delegate {r.options.delegate}" if r.options.delegate else "no delegate")
    return ", ".join(parts) or r.model


def latency_vs_threads(
    results: Sweep | Sequence[BenchmarkResult | PipelineResult], *, kind: str = "errorbar", ax: Axes | None = None
) -> Figure:
    """Latency against thread count, one series per model/backend/XNNPACK/delegate.

    "errorbar": the median with a p5..p95 bar; "box": a box plot of every timed run.

    Args:
        results: A `Sweep` or benchmark results (pipeline results are left out).
        kind: `"errorbar"` or `"box"`.
        ax: Axes to draw on (default: a new figure).
    """
    if kind not in PLOT_KINDS:
        raise OptionsError(f"unknown plot kind {kind!r}; choose one of: {', '.join(PLOT_KINDS)}")
    items = _invoke_results(results)
    keys: dict[str, set[object]] = {
        "model": {r.model for r in items},
        "backend": {r.backend for r in items},
        "xnnpack": {r.options.xnnpack for r in items},
        "delegate": {r.options.delegate for r in items},
    }
    varying = {k for k, v in keys.items() if len(v) > 1}
    series: dict[str, list[BenchmarkResult]] = {}
    for r in items:
        series.setdefault(_series_label(r, varying), []).append(r)
    ax = _axes(ax, (6.4, 4.0))
    n = len(series)
    width = 0.8 / max(n, 1)
    for i, (label, rs) in enumerate(series.items()):
        rs = sorted(rs, key=lambda r: r.options.num_threads)
        x = np.array([r.options.num_threads for r in rs], float)
        color = f"C{i % 10}"
        if kind == "errorbar":
            med = np.array([r.stats.median_ms for r in rs])
            err = np.array([[m - r.stats.p5_ms, r.stats.p95_ms - m] for r, m in zip(rs, med, strict=True)]).T
            ax.errorbar(x, med, yerr=err, marker="o", capsize=4, color=color, label=label)
        else:
            pos = x + (i - (n - 1) / 2) * width
            box = ax.boxplot(
                [r.samples_ms for r in rs], positions=pos, widths=width * 0.9, patch_artist=True, manage_ticks=False
            )
            for patch in box["boxes"]:
                patch.set_facecolor(color)
                patch.set_alpha(0.5)
            ax.plot([], [], color=color, linewidth=6, alpha=0.5, label=label)
    threads = sorted({r.options.num_threads for r in items})
    ax.set_xticks(threads)
    ax.set_xlabel("threads")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    what = "median, p5-p95" if kind == "errorbar" else "all timed runs"
    ax.set_title(f"invoke() latency vs threads ({what})")
    ax.legend(fontsize="small", loc="best")
    ax.grid(axis="y", alpha=0.3)
    return _figure(ax)


def published_comparison(
    measured: BenchmarkResult | Sequence[BenchmarkResult] | InterleavedTiming,
    *,
    quoted: Sequence[QuotedLatency] = PUBLISHED_LATENCIES,
    ax: Axes | None = None,
) -> Figure:
    """Bars of this machine's measured medians, with their 5-95% range, beside the published TFLite table's phone
    latencies (hatched, quoted, no spread published).

    Measure the settings shown here interleaved (`time_interleaved`, one task per setting, named as the bars should
    be): they then saw the same load, and the title gives it.

    Args:
        measured: An interleaved timing of the starter model's settings, or `benchmark` results (each measured
            on its own, so only roughly comparable with each other on a busy machine).
        quoted: The published latencies.
        ax: Axes to draw on (default: a new figure).

    Raises:
        OptionsError: Nothing measured.
    """
    if isinstance(measured, InterleavedTiming):
        mine = [(f"measured\n{name}", s) for name, s in zip(measured.names, measured.stats, strict=True)]
        what = f"{measured.rounds} interleaved rounds; {measured.load_line()}"
    else:
        runs = [measured] if isinstance(measured, BenchmarkResult) else list(measured)
        mine = [
            (f"measured\nCPU, {r.options.num_threads} thr{'' if r.options.xnnpack else ', no XNNPACK'}", r.stats)
            for r in runs
        ]
        what = ", ".join(sorted({r.model for r in runs}))
    if not mine:
        raise OptionsError("no measured result to compare with the published TFLite table")
    ax = _axes(ax, (8.0, 4.2))
    labels = [f"{q.device}\n{q.processor}{f', {q.threads} thr' if q.threads else ''}" for q in quoted]
    labels += [label for label, _ in mine]
    values = [q.ms for q in quoted] + [s.median_ms for _, s in mine]
    x = np.arange(len(values))
    colors = ["#bbbbbb" if q.processor == "CPU" else "#888888" for q in quoted] + ["C0"] * len(mine)
    bars = ax.bar(x, values, color=colors, edgecolor="black", linewidth=0.5)
    for bar in bars[: len(quoted)]:
        bar.set_hatch("//")
    spread = np.array([[s.median_ms - s.p5_ms, s.p95_ms - s.median_ms] for _, s in mine]).T
    ax.errorbar(x[len(quoted) :], values[len(quoted) :], yerr=spread, fmt="none", ecolor="black", capsize=4)
    ax.bar_label(bars, labels=[f"{v:.0f} ms" for v in values[: len(quoted)]] + [""] * len(mine), fontsize="small")
    for xi, (_, s) in zip(x[len(quoted) :], mine, strict=True):  # beside the range bar, not under it
        ax.annotate(
            f"{s.median_ms:.0f} ms\n5-95%:\n{s.p5_ms:.0f}-{s.p95_ms:.0f}",
            (xi, s.median_ms),
            xytext=(6, 2),
            textcoords="offset points",
            fontsize="x-small",
        )
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("device")
    ax.set_title(f"measured here vs the published TFLite table\n{what}", fontsize="medium")
    ax.bar(0, 0, color="#bbbbbb", hatch="//", edgecolor="black", label="published TFLite table (phones, quoted)")
    ax.bar(0, 0, color="C0", edgecolor="black", label=f"measured ({machine_description()}), median and 5-95%")
    ax.legend(fontsize="small", loc="upper left")
    # A busy machine's slowest runs would flatten every bar: the axis stops at 3x the largest median (the labels
    # give the range in full).
    largest = max(values)
    ax.set_ylim(0, 1.35 * min(max(largest, *(s.p95_ms for _, s in mine)), 3 * largest))
    return _figure(ax)


def stage_breakdown(
    results: PipelineResult | Sequence[BenchmarkResult | PipelineResult], *, ax: Axes | None = None
) -> Figure:
    """A stacked horizontal bar per pipeline result: mean milliseconds per stage, so you see where time goes.

    Args:
        results: Pipeline results (invoke-only results are left out).
        ax: Axes to draw on (default: a new figure).
    """
    items = [results] if isinstance(results, PipelineResult) else [r for r in results if isinstance(r, PipelineResult)]
    if not items:
        raise OptionsError("no pipeline results to plot (run benchmark_pipeline or sweep(pipeline=True))")
    ax = _axes(ax, (7.5, 1.4 + 0.6 * len(items)))
    stages = [s.name for s in items[0].stages if s.name != "total"]
    left = np.zeros(len(items))
    y = np.arange(len(items))
    for i, name in enumerate(stages):
        widths = np.array([r.stage(name).stats.mean_ms for r in items])
        ax.barh(y, widths, left=left, color=f"C{i}", label=name, edgecolor="white")
        left += widths
    ax.set_yticks(y, [f"{r.model}\n{r.options.describe()}" for r in items], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("mean time per image (ms)")
    ax.set_ylabel("pipeline")
    ax.set_title(f"where pipeline time goes ({items[0].input}, {items[0].image_size})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _figure(ax)


def op_costs(cost: ComputeCost, *, ax: Axes | None = None) -> Figure:
    """Horizontal bars of millions of MACs per op type (op types without MACs are left out).

    Args:
        cost: The model's compute cost (`compute_cost`).
        ax: Axes to draw on (default: a new figure).
    """
    ops = [o for o in cost.ops if o.macs > 0]
    if not ops:
        raise OptionsError(f"{cost.model} has no multiply-accumulate layers to plot")
    ax = _axes(ax, (6.4, 0.9 + 0.45 * len(ops)))
    y = np.arange(len(ops))
    bars = ax.barh(y, [o.macs / 1e6 for o in ops], color="C0")
    ax.bar_label(bars, labels=[f"{o.macs_share:.1%} ({o.layers} layers)" for o in ops], fontsize="small", padding=3)
    ax.set_yticks(y, [o.op for o in ops])
    ax.invert_yaxis()
    ax.set_xlabel("millions of multiply-accumulates (MMACs)")
    ax.set_ylabel("op type")
    ax.set_xlim(right=max(o.macs for o in ops) / 1e6 * 1.35)
    title = f"{cost.model}: {cost.total_macs / 1e9:.2f} GMACs, {cost.total_params / 1e6:.2f} M parameters"
    if cost.gflops is not None:
        title += f"\n{cost.gflops:.1f} GFLOP/s implied at {cost.median_ms:.1f} ms (median)"
    ax.set_title(title, fontsize="medium")
    return _figure(ax)


def __getattr__(name: str) -> Any:
    if name == "seed_comparison":  # the name before 0.2
        warnings.warn("seed_comparison is deprecated: use published_comparison", DeprecationWarning, stacklevel=2)
        return published_comparison
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
