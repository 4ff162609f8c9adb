"""What each display mode draws: one stateless `render(image, result, mode=..., alpha=..., hidden=...)` for exports
and figures, the same definitions the browser viewer draws with (`widgets/static/viewer.js`; a browser test
compares its canvas with `render`, tests/test_render_agreement.py).

The modes, for the photo P, the class colours K of the palette, opacity a, the hidden classes H and the palette's
clear classes Z (the background, with the default palette):

- overlay: K blended over P at a; H and Z stay P.
- mask: K (Z in their own colour, black with the default palette); H stays P.
- side by side: P, a white gap of `SIDE_BY_SIDE_GAP` pixels, then the mask; at the photo's scale.
- boundaries: the overlay, then white one-pixel edges: a pixel whose class differs from its left or upper
  neighbour's, except between two hidden classes (`viz.masks.boundaries`).
- confidence / entropy: the heat colours (magma) of the top class's probability or of the entropy / log(C) at the
  model's resolution (`heat_values`), resized bilinearly to the photo, blended over P at a.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from PIL import Image

from ..core.imaging import colors_of
from ..core.labels import Palette
from ..core.segmenter import SegmentationResult
from ..deprecation import deprecated
from ..errors import NoScoresError, OptionsError
from .confidence import heat_image, no_scores_message

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from .masks import BOUNDARY_COLOR, as_photo, boundaries, colorize_image, overlay, side_by_side, visible_mask

#: Display modes, in the order a viewer offers them.
DisplayMode = Literal["overlay", "mask", "side by side", "boundaries", "confidence", "entropy"]
MODES: tuple[DisplayMode, ...] = get_args(DisplayMode)
#: The modes that draw the class probabilities (they need a result with scores).
HEAT_MODES: tuple[DisplayMode, ...] = ("confidence", "entropy")
#: The default opacity of the class colours and heat maps over the photo.
DEFAULT_ALPHA = 0.6
#: Pixels between the photo and the mask in "side by side" (white).
SIDE_BY_SIDE_GAP = 8

#: The display encoding: JPEG q85, the fastest encoding to a small file of those compared
#: (benchmarks/display_latency.py; benchmarks/RESULTS.md, "Encoders for a displayed overlay").
DISPLAY_FORMAT = "jpeg"
DISPLAY_QUALITY = 85


@dataclass(frozen=True)
class DisplayOptions:
    """How to show a result: mode, opacity of the colours, the class ids to hide and the palette."""

    mode: DisplayMode = "overlay"
    alpha: float = DEFAULT_ALPHA
    hidden: frozenset[int] = field(default_factory=frozenset)
    palette: Palette = "contrast"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OptionsError(f"unknown display mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise OptionsError(f"alpha must be between 0 and 1, not {self.alpha}")
        object.__setattr__(self, "hidden", frozenset(int(i) for i in self.hidden))


def render(
    image: Image.Image | np.ndarray,
    result: SegmentationResult,
    options: DisplayOptions | None = None,
    *,
    mode: DisplayMode = "overlay",
    alpha: float = DEFAULT_ALPHA,
    hidden: Iterable[int] = (),
    palette: Palette = "contrast",
    strict: bool | None = None,
) -> Image.Image:
    """The picture of `result` over `image` in a display mode, as the browser viewer draws it (see the module).

    Stateless: each call draws from scratch; figures and exports call it once per picture.

    Args:
        image: The photo the result was made from (PIL or an H x W x 3 array), of the result's size.
        result: The segmentation (with scores for the heat-map modes: `scores=True` or `scores="coarse"`).
        options: Deprecated: pass `mode`, `alpha`, `hidden` and `palette` as keywords.
        mode: One of `MODES`.
        alpha: Opacity of the class colours and heat maps, 0 to 1.
        hidden: Class ids left uncoloured (the photo shows).
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
        strict: Deprecated: a heat-map mode without scores raises `NoScoresError` (`strict=False` drew the overlay).

    Returns:
        An RGB image of the photo's size (twice its width plus the gap for "side by side").

    Raises:
        OptionsError: An unknown mode or palette, or alpha outside 0 to 1.
        NoScoresError: A heat-map mode for a result without scores.
        SizeMismatchError: The photo and the class map differ in size.
    """
    if options is not None:
        deprecated("render(image, result, DisplayOptions(...))", "pass mode=, alpha=, hidden=, palette= as keywords")
    else:
        options = DisplayOptions(mode, alpha, frozenset(hidden), palette)
    mode, alpha, hidden, palette = options.mode, options.alpha, options.hidden, options.palette
    if strict is not None:
        deprecated("render(..., strict=...)", "a heat-map mode without scores raises NoScoresError")
        if not strict and mode in HEAT_MODES and not result.has_scores:
            mode = "overlay"
    photo = as_photo(image, result.labels)
    if mode == "overlay":
        return Image.fromarray(overlay(photo, result, alpha, hidden, palette=palette))
    if mode in ("mask", "side by side"):
        mask = Image.composite(_colors(result, palette), photo, visible_mask(result.labels, hidden))
        return mask if mode == "mask" else side_by_side(photo, mask, gap=SIDE_BY_SIDE_GAP)
    if mode == "boundaries":
        edges = boundaries(result.labels, hidden).view(np.uint8) * np.uint8(255)
        edge_mask = Image.frombuffer("L", (edges.shape[1], edges.shape[0]), edges, "raw", "L", 0, 1)
        shown = Image.fromarray(overlay(photo, result, alpha, hidden, palette=palette))
        return Image.composite(Image.new("RGB", shown.size, BOUNDARY_COLOR), shown, edge_mask)
    if not result.has_scores:
        raise NoScoresError(no_scores_message(result))
    return Image.blend(photo, heat_image(result, mode), alpha)  # type: ignore[arg-type]


def _colors(result: SegmentationResult, palette: Palette) -> Image.Image:
    """The class map in the palette's colours (clear classes too: the mask mode draws them)."""
    return colorize_image(result.labels, colors_of(result, palette).colormap)


@dataclass(frozen=True)
class Rendered:
    """A display picture and a note to show with it (e.g. why there is no heat map)."""

    image: Image.Image
    note: str = ""


class Renderer:
    """Deprecated: call `render(image, result, mode=..., ...)`; a result without scores in a heat-map mode gives
    the overlay with a note, as before."""

    def __init__(self) -> None:
        deprecated("viz.Renderer", "call viz.render(image, result, mode=..., alpha=..., hidden=...)")

    def render(self, image: Image.Image, result: SegmentationResult, options: DisplayOptions) -> Rendered:
        """The picture for `options` (heat-map modes without scores fall back to the overlay with a note)."""
        fallback = options.mode in HEAT_MODES and not result.has_scores
        mode = "overlay" if fallback else options.mode
        picture = render(image, result, mode=mode, alpha=options.alpha, hidden=options.hidden, palette=options.palette)
        return Rendered(picture, no_scores_message(result) if fallback else "")


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """Encode a matplotlib figure as PNG bytes (for an ipywidgets.Image): the one figure-to-PNG step."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def encode(image: Image.Image, fmt: str = DISPLAY_FORMAT, quality: int = DISPLAY_QUALITY) -> bytes:
    """Encode a display picture once (JPEG by default: the fastest small format, see the benchmark)."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, "JPEG", quality=quality)
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=quality, method=0)
    else:
        image.save(buffer, fmt.upper())
    return buffer.getvalue()


def render_overlay(image: Image.Image, result: SegmentationResult) -> bytes:
    """Colourise the class map, blend it over the photo and encode it as the viewer displays it (JPEG).

    The `render` step of `benchmark_pipeline` that stands for the viewer's display (no matplotlib needed).
    """
    return encode(Image.fromarray(overlay(image, result, 0.5)), DISPLAY_FORMAT)
