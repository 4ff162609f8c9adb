"""Figures for the output stride's trade-off and for interleaved latency measurements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc

from ..analysis.concepts import BandError
from ..workflows.interleaved import InterleavedTiming
from ..workflows.variants import VariantScore

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def plot_same_weights(
    scores: Sequence[VariantScore],
    strides: Mapping[str, int],
    sizes: Mapping[str, int],
    macs: Mapping[str, int],
    timing: InterleavedTiming | None = None,
) -> Figure:
    """The same weights at several output strides (x axis) and input sizes (one line each), in three panels.

    Left: mIoU with its bootstrap interval over images. Middle: accuracy 0-1 px from a ground-truth boundary
    (solid) and 4-8 px (dashed). Right: measured `invoke()` milliseconds (median, 5-95% range) from one
    interleaved run, labelled with GMACs; without `timing`, GMACs.

    Args:
        scores: One `VariantScore` per derived model (`score_variants`).
        strides: Score name -> the model's output stride.
        sizes: Score name -> the model's input size.
        macs: Score name -> its multiply-accumulates.
        timing: One interleaved run of the same models (`time_interleaved`), or None.
    """
    fig = Figure(figsize=(13.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    by_size: dict[int, list[VariantScore]] = {}
    for sc in scores:
        by_size.setdefault(sizes[sc.name], []).append(sc)
    for i, (size, group) in enumerate(sorted(by_size.items())):
        group = sorted(group, key=lambda sc: strides[sc.name])
        x = [strides[sc.name] for sc in group]
        color = COLORS[i % len(COLORS)]
        miou = [sc.miou for sc in group]
        err = [[sc.miou - sc.miou_interval[0] for sc in group], [sc.miou_interval[1] - sc.miou for sc in group]]
        nudged = [xi * (1 + 0.04 * (i - (len(by_size) - 1) / 2)) for xi in x]  # error bars side by side
        axes[0].errorbar(nudged, miou, yerr=err, fmt="o-", capsize=4, color=color, label=f"{size} px input")
        axes[1].plot(x, [sc.band_accuracy[0] for sc in group], "o-", color=color, label=f"{size} px, 0-1 px")
        axes[1].plot(x, [sc.band_accuracy[-1] for sc in group], "s--", color=color, label=f"{size} px, 4-8 px")
        if timing is not None:
            stats = [timing.stat(sc.name) for sc in group]
            y = [st.median_ms for st in stats]
            yerr = [[st.median_ms - st.p5_ms for st in stats], [st.p95_ms - st.median_ms for st in stats]]
            axes[2].errorbar(x, y, yerr=yerr, fmt="o-", capsize=4, color=color, label=f"{size} px input")
        else:
            y = [macs[sc.name] / 1e9 for sc in group]
            axes[2].plot(x, y, "o-", color=color, label=f"{size} px input")
        for xi, yi, sc in zip(x, y, group, strict=True):
            axes[2].annotate(
                f"{macs[sc.name] / 1e9:.2f} GMACs", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7
            )
    axes[0].set_ylabel("mIoU (95% bootstrap interval over images)")
    axes[0].set_title("accuracy: same weights", fontsize=10)
    axes[1].set_ylabel("pixel accuracy in the band")
    axes[1].set_title("near boundaries (solid 0-1 px, dashed 4-8 px)", fontsize=10)
    axes[2].set_ylabel("invoke() ms (median, 5-95%)" if timing is not None else "GMACs")
    axes[2].set_title(f"cost ({timing.rounds} interleaved rounds)" if timing is not None else "compute", fontsize=10)
    axes[2].set_ylim(bottom=0)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks([8, 16, 32], ["8", "16", "32"])
        ax.set_xlim(6, 40)
        ax.set_xlabel("output stride")
        ax.legend(fontsize=7)
    fig.suptitle("One model's weights at output stride 8, 16 and 32", fontsize=11)
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
