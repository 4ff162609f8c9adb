"""Figures for the output stride's trade-off and for interleaved latency measurements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc

from ..analysis.concepts import BandError, StrideCost
from ..workflows.interleaved import InterleavedTiming
from ..workflows.stride import StrideBound

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def plot_precision_vs_stride(
    bounds: Sequence[StrideBound],
    costs: Mapping[str, Sequence[StrideCost]],
    timing: InterleavedTiming | None = None,
    strides_of: Mapping[str, int] | None = None,
) -> Figure:
    """Accuracy bound and cost against output stride, in three panels sharing the stride axis.

    Left: the oracle's mIoU and boundary accuracy (an upper bound, from ground truth). Middle: GMACs of
    each network rebuilt at each stride (`costs`, by network name). Right: measured milliseconds of real
    models (`timing`) placed at their output stride (`strides_of`, task name -> stride), median with the
    5th-95th percentile range.

    Args:
        bounds: The oracle bound per stride (`oracle_bound`).
        costs: Network name -> its `StrideCost` per stride.
        timing: Measured runs of real models (`time_interleaved`), or None.
        strides_of: Task name -> the output stride that model runs at.
    """
    panels = 3 if timing is not None else 2
    fig = Figure(figsize=(4.6 * panels, 3.9), layout="constrained")
    axes = fig.subplots(1, panels)
    x = [b.output_stride for b in bounds]
    ax = axes[0]
    ax.plot(x, [b.miou for b in bounds], "o-", color=COLORS[0], label="oracle mIoU")
    width = bounds[0].boundary_width if bounds else 0
    ax.plot(
        x,
        [b.boundary_accuracy for b in bounds],
        "s--",
        color=COLORS[1],
        label=f"accuracy within {width} px of a boundary",
    )
    for b in bounds:
        ax.annotate(
            f"{b.miou:.2f}",
            (b.output_stride, b.miou),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.set_ylim(0.5, 1.02)
    ax.set_ylabel("score (1 = perfect)")
    ax.set_title("best reachable accuracy (oracle)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    for i, (name, cs) in enumerate(costs.items()):
        ax.plot([c.output_stride for c in cs], [c.macs / 1e9 for c in cs], "o-", color=COLORS[2 + i], label=name)
        for c in cs:
            ax.annotate(
                f"{c.macs / 1e9:.2f}",
                (c.output_stride, c.macs / 1e9),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    ax.set_yscale("log")
    ax.set_ylabel("GMACs (log scale)")
    ax.set_title("compute at each stride (same layers)", fontsize=10)
    ax.legend(fontsize=8)
    if timing is not None:
        ax = axes[2]
        where = strides_of or {}
        for i, (name, s) in enumerate(zip(timing.names, timing.stats, strict=True)):
            os_ = where.get(name)
            if os_ is None:
                continue
            ax.errorbar(
                [os_],
                [s.median_ms],
                yerr=[[s.median_ms - s.p5_ms], [s.p95_ms - s.median_ms]],
                fmt="o",
                capsize=4,
                color=COLORS[i % len(COLORS)],
                label=f"{name}: {s.median_ms:.0f} ms",
            )
        ax.set_ylim(bottom=0)
        ax.set_ylabel("invoke() time (ms, median, 5-95%)")
        ax.set_title(f"measured here ({timing.rounds} interleaved runs)", fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks([4, 8, 16, 32], ["4", "8", "16", "32"])
        ax.set_xlim(3, 40)
        ax.set_xlabel("output stride (input px per feature cell)")
    fig.suptitle("Output stride: precision against runtime", fontsize=11)
    return fig


def plot_interleaved(timing: InterleavedTiming, title: str = "") -> Figure:
    """Every run of each task as a dot, with the median and the 5th-95th percentile range (ms).

    Args:
        timing: The runs (`time_interleaved`).
        title: The figure title.
    """
    fig = Figure(figsize=(7.5, 0.7 * len(timing.names) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for i, (samples, s) in enumerate(zip(timing.samples_ms, timing.stats, strict=True)):
        y = i + rng.uniform(-0.15, 0.15, len(samples))
        ax.scatter(samples, y, s=10, alpha=0.5, color=COLORS[i % len(COLORS)])
        ax.plot([s.p5_ms, s.p95_ms], [i, i], color="k", lw=1.2)
        ax.plot([s.median_ms], [i], "|", color="k", ms=18, mew=2)
        ax.annotate(f"{s.median_ms:.1f} ms", (s.p95_ms, i), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.set_yticks(range(len(timing.names)), timing.names)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("time per call (ms): dots = runs, bar = median, line = 5-95%")
    ax.set_title(
        (title + "\n" if title else "") + f"{timing.rounds} interleaved rounds; {timing.load_line()}", fontsize=9
    )
    return fig


def plot_band_errors(bands: Mapping[str, Sequence[BandError]], title: str = "") -> Figure:
    """Two panels per distance band: the error rate (how often pixels there are wrong) and the share of

    all errors (where the errors are), for each prediction in `bands`.

    Args:
        bands: Prediction name -> its `BandError`s by distance band (`boundary_errors`).
        title: The figure title.
    """
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    rate_ax, share_ax = fig.subplots(1, 2, sharex=True)
    width = 0.8 / max(1, len(bands))
    for i, (name, errs) in enumerate(bands.items()):
        xs = np.arange(len(errs)) + i * width
        color = COLORS[i % len(COLORS)]
        rate_ax.bar(xs, [e.error for e in errs], width=width, color=color, label=name)
        share_ax.bar(xs, [e.share for e in errs], width=width, color=color, label=name)
    first = next(iter(bands.values()), ())
    ticks = np.arange(len(first)) + width * (len(bands) - 1) / 2
    for ax, what in ((rate_ax, "error rate in the band"), (share_ax, "share of all errors")):
        ax.set_xticks(ticks, [e.label() for e in first])
        ax.set_xlabel("distance to the nearest reference boundary")
        ax.set_ylabel(f"{what} (0-1)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    rate_ax.set_title("how often a pixel there is wrong", fontsize=10)
    share_ax.set_title("where the errors are", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
