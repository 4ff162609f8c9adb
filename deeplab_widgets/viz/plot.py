"""A matplotlib figure of a result: image | mask | overlay | legend, the layout of DeepLab's `vis_segmentation`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec
    from matplotlib.layout_engine import ConstrainedLayoutEngine
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc
from PIL import Image

from ..core.images import ImageInput, load_image
from ..core.imaging import image_first
from ..core.labels import Palette
from ..core.segmenter import SegmentationResult
from .legend import legend_entries
from .render import DEFAULT_ALPHA, HEAT_MODES, DisplayMode, render


def plot_segmentation(
    image: ImageInput,
    result: SegmentationResult,
    *,
    alpha: float = DEFAULT_ALPHA,
    hidden: Iterable[int] = (),
    palette: Palette = "contrast",
    title: str | None = None,
    width: float = 15.0,
) -> Figure:
    """A figure for papers and slides; Jupyter shows it inline, `fig.savefig(...)` writes it.

    Four panels, as in DeepLab's `vis_segmentation`: the photo, the colourised class map, the overlay, and a
    legend of the visible classes present with their pixel share. Built on `matplotlib.figure.Figure` (not
    pyplot), so it holds no global state and is never shown twice.

    Args:
        image: The photo the result was made from (a path, bytes, a PIL image or an array), at the result's
            size.
        result: The segmentation to draw.
        alpha: Opacity of the class colours in the overlay panel, 0 to 1.
        hidden: Class ids drawn without colour and left out of the legend.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
        title: The figure title; default, the model, its runtime options and the time taken.
        width: Figure width in inches; the height follows the photo's aspect ratio.

    Returns:
        The figure.

    Raises:
        ImageNotFoundError: `image` is a path that does not exist.
        ImageDecodeError: `image` is not a readable image.
        SizeMismatchError: The photo and the class map differ in size.
    """
    image, result = image_first(image, result, "plot_segmentation")
    photo = image if isinstance(image, Image.Image) else load_image(image)
    hidden = tuple(hidden)
    entries = [e for e in legend_entries(result, hidden, palette) if e.visible]
    aspect = photo.height / photo.width
    fig = Figure(figsize=(width, max(2.5, width / 3.6 * aspect + 0.6)), layout="constrained")
    grid = GridSpec(1, 4, figure=fig, width_ratios=[6, 6, 6, 1])
    panels = [
        ("input image", photo),
        ("segmentation map", render(photo, result, mode="mask", hidden=hidden, palette=palette)),
        ("segmentation overlay", render(photo, result, alpha=alpha, hidden=hidden, palette=palette)),
    ]
    for i, (name, picture) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.asarray(picture))
        ax.set_title(name)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 3])
    if entries:
        ax.imshow(np.array([[e.color] for e in entries], np.uint8), interpolation="nearest", aspect="auto")
        ax.set_yticks(range(len(entries)), [f"{e.name} {e.percent}" for e in entries])
        ax.yaxis.tick_right()
    ax.set_xticks([])
    ax.tick_params(width=0.0)
    ax.set_title("classes")
    fig.suptitle(title or f"{result.model} ({result.options.describe()}, {result.timings.total_ms:.0f} ms)")
    return fig


def _rgb(color: Sequence[int]) -> tuple[float, float, float]:
    """An 8-bit RGB colour as matplotlib's 0-1 floats."""
    r, g, b = (float(c) / 255 for c in color[:3])
    return (r, g, b)


#: What each display mode shows, as a panel title.
MODE_TITLES = {
    "overlay": "overlay: classes over the photo",
    "mask": "mask: classes only",
    "boundaries": "boundaries: class outlines",
    "confidence": "confidence: top-class probability",
    "entropy": "entropy: uncertainty (0-1)",
    "side by side": "side by side: photo | mask",
}


def plot_display_modes(
    image: ImageInput,
    result: SegmentationResult,
    modes: Sequence[DisplayMode] = ("overlay", "mask", "boundaries", "confidence", "entropy"),
    *,
    alpha: float = DEFAULT_ALPHA,
    palette: Palette = "contrast",
    title: str | None = None,
) -> Figure:
    """One result drawn in several display modes, each panel titled, with a class legend and, for the
    heat-map modes, a colour bar (0-1). Nothing runs the model again: every panel comes from `result`.

    Args:
        image: The photo the result was made from (a path, bytes, a PIL image or an array).
        result: The segmentation to draw (with scores for the confidence and entropy panels).
        modes: The display modes, one panel each, in order.
        alpha: Opacity of the class colours and heat maps, 0 to 1.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
        title: The figure title (default: the model and the number of modes).

    Returns:
        The figure.

    Raises:
        ImageNotFoundError, ImageDecodeError: `image` cannot be read.
        SizeMismatchError: The photo and the class map differ in size.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    image, result = image_first(image, result, "plot_display_modes")
    photo = image if isinstance(image, Image.Image) else load_image(image)
    aspect = photo.height / photo.width
    # The default padding (3 pt) lets the figure title touch the panel titles: 6 pt keeps them apart.
    fig = Figure(figsize=(3.3 * len(modes), 3.3 * aspect + 1.8), layout=ConstrainedLayoutEngine(h_pad=6 / 72))
    axes = np.atleast_1d(fig.subplots(1, len(modes), squeeze=False)).ravel()
    heat_axes = []
    for ax, mode in zip(axes, modes, strict=True):
        fallback = mode in HEAT_MODES and not result.has_scores
        shown = render(photo, result, mode="overlay" if fallback else mode, alpha=alpha, palette=palette)
        ax.imshow(np.asarray(shown))
        ax.set_title(MODE_TITLES.get(mode, mode) + ("\n(no scores: overlay shown)" if fallback else ""), fontsize=9)
        ax.axis("off")
        if mode in HEAT_MODES and not fallback:
            heat_axes.append(ax)
    if heat_axes:
        bar = ScalarMappable(Normalize(0, 1), colormaps["magma"])
        fig.colorbar(
            bar, ax=heat_axes, orientation="horizontal", shrink=0.8, label="heat value (0-1), blended over the photo"
        )
    entries = legend_entries(result, palette=palette)
    fig.legend(
        handles=[Patch(color=_rgb(e.color), label=f"{e.name} {e.percent}") for e in entries],
        loc="outside lower center",
        ncol=max(1, len(entries)),
        fontsize=8,
        title="classes",
    )
    fig.suptitle(title or f"{result.model}: one result, {len(modes)} ways", fontsize=11)
    return fig
