"""Class maps as pictures for display: boundaries and side-by-side panels on top of `core.imaging`.

Colouring, blending and masks live in `deeplab_widgets.core.imaging` (files are written from the core without
this layer); they are re-exported here for the figures and widgets that use them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image

from ..core.imaging import (
    as_photo,
    colorize,
    colorize_image,
    label_image,
    overlay,
    overlay_image,
    size_mismatch,
    visible_mask,
)

__all__ = [
    "BOUNDARY_COLOR",
    "as_photo",
    "boundaries",
    "colorize",
    "colorize_image",
    "draw_boundaries",
    "overlay",
    "overlay_image",
    "side_by_side",
    "size_mismatch",
    "visible_mask",
]

#: Colour of the thin class-boundary lines.
BOUNDARY_COLOR = (255, 255, 255)


def boundaries(labels: np.ndarray, hidden: Iterable[int] = ()) -> np.ndarray:
    """H x W bool: True on the one-pixel-thin edges between classes (none between two hidden classes).

    Args:
        labels: An H x W uint8 class map.
        hidden: Classes between which no edge is drawn.
    """
    labels = np.asarray(labels, np.uint8)
    hidden = tuple(hidden)
    if hidden:
        table = np.arange(256, dtype=np.uint8)
        table[list(hidden)] = 255  # hidden classes merge into one region with no edges inside
        labels = np.asarray(label_image(labels, "L").point(table.tolist()))
    edges = np.zeros(labels.shape, bool)
    np.not_equal(labels[:, 1:], labels[:, :-1], out=edges[:, 1:])
    edges[1:] |= labels[1:] != labels[:-1]
    return edges


def draw_boundaries(
    image: Image.Image,
    labels: np.ndarray,
    hidden: Iterable[int] = (),
    color: tuple[int, int, int] = BOUNDARY_COLOR,
    edges: np.ndarray | None = None,
) -> Image.Image:
    """A copy of `image` with thin class boundaries (or the given `edges`) drawn in `color`.

    Args:
        image: The photo.
        labels: Its class map.
        hidden: Classes between which no edge is drawn.
        color: The lines' RGB colour.
        edges: Precomputed `boundaries(labels, hidden)`.
    """
    edges = boundaries(labels, hidden) if edges is None else edges
    pixels = np.array(image.convert("RGB"))
    pixels.reshape(-1, 3)[np.flatnonzero(edges)] = color
    return Image.fromarray(pixels)


def side_by_side(*images: Image.Image, gap: int = 8, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Images of the same height next to each other, `gap` pixels apart.

    Args:
        *images: PIL images, left to right.
        gap: Pixels between two images.
        background: The gap's RGB colour.
    """
    height = max(im.height for im in images)
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    canvas = Image.new("RGB", (width, height), background)
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + gap
    return canvas
