"""One display picture from a result and display options, and its encoding for the browser.

`Renderer` keeps what does not depend on the display options (the photo, the heat maps) for
the last result, so a display-only change costs one blend and one JPEG encode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from PIL import Image, ImageChops

from ..core.segmenter import SegmentationResult
from ..errors import NoScoresError, OptionsError
from .confidence import heat_image, no_scores_message

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from .masks import (
    BOUNDARY_COLOR,
    as_photo,
    boundaries,
    colorize_image,
    overlay,
    overlay_image,
    side_by_side,
    visible_mask,
)

#: Display modes, in the order a viewer offers them.
DisplayMode = Literal["overlay", "mask", "side by side", "boundaries", "confidence", "entropy"]
MODES: tuple[DisplayMode, ...] = get_args(DisplayMode)

#: The display encoding: JPEG q85, the fastest encoding to a small file of those compared
#: (benchmarks/display_latency.py; benchmarks/RESULTS.md, "Encoders for a displayed overlay").
DISPLAY_FORMAT = "jpeg"
DISPLAY_QUALITY = 85
#: "side by side" scales its two halves so the pair is at most this wide (the encode cost stays that of ~1 MP).
SIDE_BY_SIDE_WIDTH = 1400
SIDE_BY_SIDE_GAP = 8


@dataclass(frozen=True)
class DisplayOptions:
    """How to show a result: mode, mask opacity and the class ids to hide."""

    mode: DisplayMode = "overlay"
    alpha: float = 0.6
    hidden: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OptionsError(f"unknown display mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise OptionsError(f"alpha must be between 0 and 1, not {self.alpha}")
        object.__setattr__(self, "hidden", frozenset(int(i) for i in self.hidden))


@dataclass(frozen=True)
class Rendered:
    """A display picture and a note to show with it (e.g. why there is no heat map)."""

    image: Image.Image
    note: str = ""


class Renderer:
    """Renders results for display, caching per-result work (photo, heat maps) across option changes."""

    def __init__(self) -> None:
        self._source: tuple[Image.Image, SegmentationResult] | None = None
        self._photo: Image.Image | None = None
        self._colors: Image.Image | None = None
        self._heat: dict[str, Image.Image] = {}
        self._edges: dict[frozenset[int], tuple[Image.Image, Image.Image]] = {}
        self._small: tuple[Image.Image, SegmentationResult, Image.Image] | None = None

    def _prepare(self, image: Image.Image, result: SegmentationResult) -> Image.Image:
        if self._source is None or self._source[0] is not image or self._source[1] is not result:
            self._photo, self._source = as_photo(image, result.labels), (image, result)
            self._colors = colorize_image(result.labels, result.colormap)
            self._heat, self._edges, self._small = {}, {}, None
        return self._prepared()[0]

    def _prepared(self) -> tuple[Image.Image, Image.Image]:
        """The photo and the colourised class map of the current result (`_prepare` made them)."""
        assert self._photo is not None and self._colors is not None, "call _prepare first"
        return self._photo, self._colors

    def _boundary_layers(self, result: SegmentationResult, hidden: frozenset[int]) -> tuple[Image.Image, Image.Image]:
        """The colour layer with white class edges, and the edges as an 8-bit mask (cached per hidden set)."""
        layers = self._edges.get(hidden)
        if layers is None:
            edges = boundaries(result.labels, hidden).view(np.uint8) * np.uint8(255)
            edge_mask = Image.frombuffer("L", (edges.shape[1], edges.shape[0]), edges, "raw", "L", 0, 1)
            white = Image.new("RGB", edge_mask.size, BOUNDARY_COLOR)
            layers = self._edges[hidden] = (Image.composite(white, self._prepared()[1], edge_mask), edge_mask)
        return layers

    def _halves(self, result: SegmentationResult) -> tuple[Image.Image, SegmentationResult, Image.Image]:
        """Photo, result and colours scaled so that two of them side by side fit `SIDE_BY_SIDE_WIDTH`."""
        if self._small is None:
            photo, colors = self._prepared()
            scale = min(1.0, (SIDE_BY_SIDE_WIDTH - SIDE_BY_SIDE_GAP) / (2 * photo.width))
            size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
            if size == photo.size:
                self._small = (photo, result, colors)
            else:
                labels = np.asarray(Image.fromarray(result.labels).resize(size, Image.Resampling.NEAREST))
                small = replace(result, labels=labels)
                self._small = (
                    photo.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0),
                    small,
                    colorize_image(labels, result.colormap),
                )
        return self._small

    def _overlay(self, result: SegmentationResult, alpha: float, hidden: frozenset[int]) -> Image.Image:
        photo, colors = self._prepared()
        return overlay_image(photo, result, alpha, hidden, colors=colors)

    def render(self, image: Image.Image, result: SegmentationResult, options: DisplayOptions) -> Rendered:
        """The picture for `options` (heat-map modes fall back to the overlay with a plain note)."""
        photo = self._prepare(image, result)
        mode, alpha, hidden = options.mode, options.alpha, options.hidden
        if mode == "mask":
            return Rendered(self._overlay(result, 1.0, hidden))
        if mode == "side by side":
            small_photo, small, small_colors = self._halves(result)
            mask = overlay_image(small_photo, small, 1.0, hidden, colors=small_colors)
            return Rendered(side_by_side(small_photo, mask, gap=SIDE_BY_SIDE_GAP))
        if mode == "boundaries":
            colors, edge_mask = self._boundary_layers(result, hidden)
            shown = ImageChops.lighter(visible_mask(result.labels, hidden, alpha), edge_mask)
            return Rendered(Image.composite(colors, photo, shown))
        if mode in ("confidence", "entropy"):
            if result.scores is None:
                return Rendered(self._overlay(result, alpha, hidden), no_scores_message(result))
            heat = self._heat.get(mode)
            if heat is None:
                heat = self._heat[mode] = heat_image(result, mode)
            return Rendered(Image.blend(photo, heat, alpha))
        return Rendered(self._overlay(result, alpha, hidden))


def render(
    image: Image.Image, result: SegmentationResult, options: DisplayOptions | None = None, strict: bool = False
) -> Image.Image:
    """One display picture; with `strict=True` a heat-map mode without scores raises `NoScoresError`."""
    out = Renderer().render(image, result, options or DisplayOptions())
    if strict and out.note:
        raise NoScoresError(out.note)
    return out.image


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
