"""Figures that explain DeepLab's architecture: the block diagram of a real graph, feature-map
grids, atrous sampling grids, gridding, ASPP coverage, output-stride costs and boundary errors.

Built on `matplotlib.figure.Figure` (no pyplot state); `viz.render.figure_png` turns one into PNG bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc
from PIL import Image

from ..analysis import concepts
from ..analysis.deeplab import ROLES, ModelGraph
from .render import figure_png

__all__ = [
    "ROLE_COLORS",
    "figure_png",
    "plot_aspp",
    "plot_block_diagram",
    "plot_boundary_errors",
    "plot_confidence",
    "plot_feature_maps",
    "plot_gridding",
    "plot_output_stride_costs",
    "plot_receptive_field",
    "plot_sampling_grid",
]

#: One colour per layer role (see `deeplab_widgets.graph.ROLES`).
ROLE_COLORS = {
    "backbone": "#4C72B0",
    "atrous": "#DD8452",
    "aspp": "#55A868",
    "decoder": "#8172B3",
    "logits": "#C44E52",
    "other": "#9A9A9A",
}
#: Colours of ASPP branches / rates, in order.
RATE_COLORS = ("#C44E52", "#4C72B0", "#55A868", "#DD8452", "#8172B3", "#937860")


def plot_block_diagram(graph: ModelGraph, *, width: float = 14.0) -> Figure:
    """The model's layers left to right, coloured by role: feature-map size on top, MACs below.

    Dilated layers carry their rate; the image-pooling branch drops to 1x1 and comes back.

    Args:
        graph: The model's graph (`read_graph`).
        width: Figure width in inches.
    """
    s = graph.summary
    layers = graph.layers
    fig = Figure(figsize=(width, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    for ly in layers:
        size = ly.spatial[0] if ly.spatial else 1
        color = ROLE_COLORS[ly.role]
        top.add_patch(Rectangle((ly.index - 0.4, 0), 0.8, size, color=color, alpha=0.9, lw=0))
        if ly.rate > 1:
            top.text(ly.index, size * 1.12, f"r{ly.rate}", ha="center", va="bottom", fontsize=7, rotation=90)
        bottom.bar(ly.index, ly.macs / 1e6, color=color, width=0.8)
    top.set_yscale("log", base=2)
    top.set_ylim(0.8, max(s.input_size) * 2.2)
    top.set_xlim(-1, len(layers))
    top.axhline(s.feature_size[0], color="k", lw=0.6, ls=":")
    top.text(0, s.feature_size[0] * 0.8, f"encoder map {s.feature_size[0]}x{s.feature_size[1]}", fontsize=8, va="top")
    top.set_ylabel("feature map height (log)")
    if s.image_pooling is not None:
        p = s.image_pooling
        top.annotate(
            "image pooling (1x1)",
            xy=(p.pool, 1.0),
            xytext=(p.pool - 12, 3.0),
            fontsize=8,
            arrowprops={"arrowstyle": "->", "lw": 0.8},
        )
    present = [r for r in ROLES if any(ly.role == r for ly in layers)]
    top.legend(
        handles=[Patch(color=ROLE_COLORS[r], label=r) for r in present],
        loc="upper right",
        ncol=len(present),
        fontsize=8,
    )
    decoder = "decoder" if s.has_decoder else "no decoder"
    top.set_title(
        f"{s.name}: {s.backbone}, input {s.input_size[0]}x{s.input_size[1]}, output stride {s.output_stride}, "
        f"atrous rates {', '.join(map(str, s.atrous_rates)) or 'none'}, {decoder}, {s.total_macs / 1e9:.2f} GMACs"
    )
    bottom.set_ylabel("MMACs")
    bottom.set_xlabel("layer index")
    return fig


def feature_grid(fmap: np.ndarray, channels: int = 16, order: str = "strongest") -> tuple[np.ndarray, list[int]]:
    """Pick `channels` channels of a h x w x C map (strongest mean activation first, or by index).

    Args:
        fmap: An h x w x C feature map.
        channels: How many channels to pick.
        order: `"strongest"` (largest mean activation first) or `"index"` (the first ones).
    """
    fmap = np.asarray(fmap, np.float32)
    if fmap.ndim == 2:
        fmap = fmap[..., None]
    n = min(channels, fmap.shape[-1])
    picked = list(np.argsort(-np.abs(fmap).mean(axis=(0, 1)))[:n]) if order == "strongest" else list(range(n))
    return fmap[..., picked], [int(i) for i in picked]


def plot_feature_maps(
    fmap: np.ndarray, *, channels: int = 16, cols: int = 8, order: str = "strongest", title: str = ""
) -> Figure:
    """A grid of one layer's channels, each scaled to its own range (bright = strong).

    Args:
        fmap: An h x w x C feature map (e.g. `Activations.layer_output`).
        channels: How many channels to show.
        cols: Panels per row.
        order: `"strongest"` or `"index"` (see `feature_grid`).
        title: The figure title.
    """
    maps, picked = feature_grid(fmap, channels, order)
    n = len(picked)
    rows = max(1, int(np.ceil(n / cols)))
    fig = Figure(figsize=(1.6 * min(cols, n), 1.7 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, min(cols, n), squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i, k in zip(axes, range(n), picked, strict=False):
        ax.imshow(maps[..., i], cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {k}", fontsize=8)
    if title:
        fig.suptitle(f"{title}\n(each channel scaled to its own range: bright = strong)", fontsize=10)
    return fig


def plot_sampling_grid(
    kernel: int = 3,
    rate: int = 2,
    *,
    image: Image.Image | np.ndarray | None = None,
    size: int = 25,
    center: tuple[int, int] | None = None,
    layers: int = 1,
    output_stride: int = 1,
    ax_title: str | None = None,
) -> Figure:
    """Where a k x k filter at rate r samples (dots), its span (box) and the receptive field of

    `layers` such filters stacked (dashed box); on a pixel grid or over a photo, in input pixels.

    Args:
        kernel: The filter's size (k x k).
        rate: The atrous rate, in cells of the feature map the filter runs on.
        image: A photo to draw over (default: a plain pixel grid).
        size: The grid's side in pixels, without a photo.
        center: The output pixel (row, column) (default: the middle).
        layers: How many such filters are stacked for the receptive field.
        output_stride: Input pixels per cell of that feature map: the taps of a rate-r filter at output stride s
            are r * s input pixels apart (rate 6 at stride 16: a 3x3 filter spans 193 px).
        ax_title: The panel's title (default: kernel, rate, stride and span).
    """
    fig = Figure(figsize=(5.2, 5.2), layout="constrained")
    ax = fig.add_subplot()
    if image is not None:
        pic = np.asarray(image)
        h, w = pic.shape[:2]
        ax.imshow(pic)
    else:
        h = w = size
        ax.imshow(np.ones((h, w)), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
        ax.grid(which="minor", color="#cccccc", lw=0.5)
    cy, cx = center if center is not None else (h // 2, w // 2)
    span = concepts.input_extent(kernel, rate, output_stride)
    cells = concepts.receptive_field([concepts.ConvSpec(kernel, 1, rate)] * layers)[-1].receptive_field
    rf = (cells - 1) * output_stride + 1
    taps = concepts.tap_grid(kernel, rate * output_stride, (cy, cx))
    ax.add_patch(Rectangle((cx - rf / 2, cy - rf / 2), rf, rf, fill=False, ec="#DD8452", lw=1.5, ls="--"))
    ax.add_patch(Rectangle((cx - span / 2, cy - span / 2), span, span, fill=False, ec="#C44E52", lw=1.5))
    ax.scatter(taps[:, 1], taps[:, 0], s=max(12, 900 / max(h, w)), c="#C44E52", edgecolors="white", zorder=3)
    ax.legend(
        handles=[
            Line2D([], [], marker="o", ls="", color="#C44E52", label="taps"),
            Patch(fill=False, ec="#C44E52", label=f"span {span} px"),
            Patch(fill=False, ec="#DD8452", ls="--", label=f"receptive field {rf} px"),
        ],
        fontsize=8,
        loc="lower right",
    )
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    where = f" at output stride {output_stride}" if output_stride > 1 else ""
    ax.set_title(
        ax_title
        or f"{kernel}x{kernel} filter, rate {rate}{where}: span {span} px; {layers} layer(s): receptive field {rf} px",
        fontsize=9,
    )
    return fig


def plot_gridding(rate_sets: Sequence[Sequence[int]], kernel: int = 3) -> Figure:
    """For each stack of rates, how often each input offset reaches one output (white = never: gridding).

    Args:
        rate_sets: Stacks of atrous rates, one panel each (e.g. `[(2, 2, 2), (1, 2, 5)]`).
        kernel: The filters' size.
    """
    fig = Figure(figsize=(3.3 * len(rate_sets) + 1.0, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(rate_sets), squeeze=False)).ravel()
    grids = [concepts.gridding_map(rates, kernel) for rates in rate_sets]
    top = max(int(g.max()) for g in grids)
    widest = max(g.shape[0] // 2 for g in grids)
    image = None
    for ax, rates, grid in zip(axes, rate_sets, grids, strict=True):
        reach = grid.shape[0] // 2
        image = ax.imshow(
            np.ma.masked_equal(grid, 0),
            cmap=colormaps["viridis"].with_extremes(bad="white"),
            vmin=1,
            vmax=top,
            interpolation="nearest",
            extent=(-reach - 0.5, reach + 0.5, reach + 0.5, -reach - 0.5),
        )
        ax.set_facecolor("#d9d9d9")
        ax.set_xlim(-widest - 0.5, widest + 0.5)
        ax.set_ylim(widest + 0.5, -widest - 0.5)
        ax.set_title(f"rates {tuple(rates)}: {concepts.coverage(rates, kernel):.0%} covered", fontsize=9)
        ax.set_xlabel("input offset x (px)")
        ax.set_ylabel("input offset y (px)")
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="paths to the output (white: none)")
    fig.suptitle(
        f"Gridding: input offsets that reach one output of {len(rate_sets[0])} stacked {kernel}x{kernel} layers "
        "(grey: outside the receptive field)",
        fontsize=10,
    )
    return fig


def plot_aspp(rates: Sequence[int], feature_size: int = 33, kernel: int = 3) -> Figure:
    """ASPP's parallel branches: their taps around one output (left) and how many taps stay

    inside a feature_size map as the rate grows (right): large rates degenerate to a 1x1 filter.

    Args:
        rates: The branches' atrous rates (e.g. `(6, 12, 18)`).
        feature_size: The side of the feature map the branches run on (33 for a 513 input at stride 16).
        kernel: The filters' size.
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    grid = concepts.aspp_sampling(rates, kernel)
    n = grid.shape[0]
    left.imshow(np.ones((n, n)), cmap="gray", vmin=0, vmax=1)
    c = n // 2
    for i, r in enumerate(rates):
        taps = concepts.tap_grid(kernel, r, (c, c))
        color = RATE_COLORS[i % len(RATE_COLORS)]
        left.scatter(taps[:, 1], taps[:, 0], s=30, c=color, label=f"rate {r}", zorder=3 + i)
    left.legend(fontsize=8, loc="upper right")
    left.set_title(f"{kernel}x{kernel} taps of each branch around one output", fontsize=9)
    left.set_xlabel("offset x (feature-map cells)")
    left.set_ylabel("offset y (cells)")
    all_rates = np.arange(1, feature_size + 1)
    vt = [concepts.valid_taps(feature_size, int(r), kernel) for r in all_rates]
    right.plot(all_rates, [v.mean_fraction for v in vt], label="mean share of taps inside")
    right.plot(all_rates, [v.center_only for v in vt], label="positions where only the centre tap is inside")
    for i, r in enumerate(rates):
        if r <= feature_size:
            right.axvline(r, color=RATE_COLORS[i % len(RATE_COLORS)], lw=0.8, ls=":")
    right.set_xlabel("atrous rate (feature-map cells)")
    right.set_ylabel("share (0-1)")
    right.set_ylim(0, 1.02)
    right.set_title(f"on a {feature_size}x{feature_size} feature map", fontsize=9)
    right.legend(fontsize=8)
    return fig


def plot_receptive_field(graph: ModelGraph) -> Figure:
    """Theoretical receptive field per layer against the input size, coloured by role.

    Args:
        graph: The model's graph (`read_graph`).
    """
    s = graph.summary
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for ly in graph.layers:
        ax.bar(ly.index, ly.receptive_field, color=ROLE_COLORS[ly.role], width=0.8)
    ax.axhline(s.input_size[0], color="k", ls="--", lw=0.8)
    ax.text(0, s.input_size[0] * 1.03, f"input height {s.input_size[0]}", fontsize=8)
    present = [r for r in ROLES if any(ly.role == r for ly in graph.layers)]
    ax.legend(handles=[Patch(color=ROLE_COLORS[r], label=r) for r in present], fontsize=8, ncol=len(present))
    ax.set_xlabel("layer index")
    ax.set_ylabel("receptive field (px)")
    ax.set_title(f"{s.name}: theoretical receptive field", fontsize=10)
    return fig


def plot_output_stride_costs(costs: Sequence[concepts.StrideCost], name: str = "") -> Figure:
    """MACs and encoder feature size for each output stride.

    Args:
        costs: One `StrideCost` per output stride (`output_stride_costs`).
        name: The network's name, for the title.
    """
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"OS {c.output_stride}\n{c.feature_size[0]}x{c.feature_size[1]}" for c in costs]
    gmacs = [c.macs / 1e9 for c in costs]
    ax.bar(labels, gmacs, color=["#DD8452", "#4C72B0", "#55A868"][: len(costs)])
    for i, g in enumerate(gmacs):
        ax.text(i, g, f"{g:.2f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("GMACs")
    ax.set_title(f"{name}: cost of the output stride".strip(": "), fontsize=10)
    return fig


def plot_boundary_errors(
    photo: Image.Image | np.ndarray,
    panels: Sequence[tuple[str, np.ndarray]],
    reference: np.ndarray,
    colormap: np.ndarray,
    bands: Sequence[tuple[str, Sequence[concepts.BandError]]],
    *,
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Photo, label maps (e.g. nearest-upsampled coarse, bilinear, reference) and error by boundary distance.

    With `class_names`, a legend names the colours of the classes shown.

    Args:
        photo: The photo.
        panels: (title, H x W class map) pairs to show beside it.
        reference: The reference class map the errors are measured against.
        colormap: 256 x 3 uint8 class colours.
        bands: (label, `BandError`s by distance band) per prediction (`boundary_errors`).
        class_names: Names for a legend of the classes shown (default: no legend).
        title: The figure title.
    """
    heading = title or "Coarse logits against the reference mask"
    fig = Figure(figsize=(3.6 * (len(panels) + 3), 4.0), layout="constrained")
    axes = fig.subplots(1, len(panels) + 3)
    axes[0].imshow(np.asarray(photo))
    axes[0].set_title("photo", fontsize=9)
    for ax, (title, labels) in zip(axes[1:], [*panels, ("reference", reference)], strict=False):
        ax.imshow(colormap[np.asarray(labels)])
        agree = float(np.mean(np.asarray(labels) == reference))
        ax.set_title(f"{title} ({agree:.1%} agree)" if title != "reference" else title, fontsize=9)
    for ax in axes[:-1]:
        ax.axis("off")
    ax = axes[-1]
    width = 0.8 / max(1, len(bands))
    for i, (title, errs) in enumerate(bands):
        names = [f"{e.near}-{e.far - 1}" if e.far is not None else f">={e.near}" for e in errs]
        x = np.arange(len(errs)) + i * width
        ax.bar(x, [e.error for e in errs], width=width, label=title, color=RATE_COLORS[i % len(RATE_COLORS)])
        ax.set_xticks(np.arange(len(errs)) + width * (len(bands) - 1) / 2, names)
    ax.set_xlabel("distance to the reference boundary (px)")
    ax.set_ylabel("error rate in the band (0-1)")
    ax.set_title("error rate by distance", fontsize=9)
    ax.legend(fontsize=8)
    shown = sorted({int(v) for v in np.unique(reference)} | {int(v) for _, lab in panels for v in np.unique(lab)})
    if class_names is not None:
        fig.legend(
            handles=[Patch(color=colormap[v] / 255, label=class_names[v]) for v in shown if v < len(class_names)],
            loc="outside lower center",
            ncol=len(shown),
            fontsize=8,
        )
    fig.suptitle(heading, fontsize=10)
    return fig


def plot_confidence(photo: Image.Image | np.ndarray, confidence: np.ndarray, title: str = "") -> Figure:
    """The photo next to a per-pixel confidence map (e.g. `Activations.confidence()`), dark = unsure.

    Args:
        photo: The photo.
        confidence: An h x w map in [0, 1] (any resolution: it is scaled to the photo).
        title: The figure title.
    """
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(np.asarray(photo))
    left.set_title("photo", fontsize=9)
    shown = right.imshow(confidence, cmap="magma", vmin=0.0, vmax=1.0)
    right.set_title(title or "top-class probability", fontsize=9)
    fig.colorbar(shown, ax=right, shrink=0.8, label="probability of the top class")
    for ax in (left, right):
        ax.axis("off")
    return fig
