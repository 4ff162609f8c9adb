"""Turning class maps into pictures: palette lookup and uint8 blending in Pillow's C code, never a Python pixel loop.

Hidden classes are simply not coloured: their pixels show the photo in every mode.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image

from ..core.segmenter import SegmentationResult
from ..errors import SizeMismatchError

#: Colour of the thin class-boundary lines.
BOUNDARY_COLOR = (255, 255, 255)


def _label_image(labels: np.ndarray, mode: str = "P") -> Image.Image:
    """A zero-copy PIL view of an H x W uint8 class map."""
    labels = np.ascontiguousarray(labels, np.uint8)
    return Image.frombuffer(mode, (labels.shape[1], labels.shape[0]), labels, "raw", mode, 0, 1)


def size_mismatch(image_size: tuple[int, int], labels: np.ndarray) -> str:
    """The message for a photo shown with a class map of another size (`SizeMismatchError`)."""
    w, h = image_size
    return (
        f"image is {w}x{h} but the mask is {labels.shape[1]}x{labels.shape[0]}; "
        "show a result with the photo it was segmented from"
    )


def as_photo(image: Image.Image | np.ndarray, labels: np.ndarray) -> Image.Image:
    """The image as RGB PIL, checked to match the class map's size (`SizeMismatchError` if not)."""
    if not isinstance(image, Image.Image):
        pixels = np.asarray(image, np.uint8)
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :3] if pixels.ndim == 3 else pixels))
    photo = image
    if photo.mode != "RGB":
        photo = photo.convert("RGB")
    if (photo.height, photo.width) != labels.shape:
        raise SizeMismatchError(size_mismatch(photo.size, labels))
    return photo


def colorize_image(labels: np.ndarray, colormap: np.ndarray) -> Image.Image:
    """H x W class ids -> an RGB PIL image by palette lookup (about 1 ms per megapixel)."""
    image = _label_image(labels)
    image.putpalette(np.asarray(colormap, np.uint8)[:256].tobytes())
    return image.convert("RGB")


def colorize(labels: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """H x W class ids -> H x W x 3 uint8 colours by table lookup."""
    return np.asarray(colorize_image(labels, colormap))


def visible_mask(labels: np.ndarray, hidden: Iterable[int] = (), alpha: float = 1.0) -> Image.Image:
    """An 8-bit mask: `alpha` * 255 where a class is shown, 0 where it is hidden."""
    level = round(float(np.clip(alpha, 0.0, 1.0)) * 255)
    table = [level] * 256
    for class_id in hidden:
        table[int(class_id)] = 0
    return _label_image(labels, "L").point(table)


def overlay_image(
    image: Image.Image | np.ndarray,
    result: SegmentationResult,
    alpha: float = 0.5,
    hidden: Iterable[int] = (),
    colors: Image.Image | None = None,
) -> Image.Image:
    """Blend the colourised mask over the photo; alpha 0 = photo, 1 = mask; hidden classes stay photo.

    `colors` may pass a cached `colorize_image(result.labels, result.colormap)`.
    """
    photo = as_photo(image, result.labels)
    colors = colorize_image(result.labels, result.colormap) if colors is None else colors
    hidden = tuple(hidden)
    if not hidden:
        return Image.blend(photo, colors, float(np.clip(alpha, 0.0, 1.0)))
    return Image.composite(colors, photo, visible_mask(result.labels, hidden, alpha))


def overlay(
    image: Image.Image | np.ndarray, result: SegmentationResult, alpha: float = 0.5, hidden: Iterable[int] = ()
) -> np.ndarray:
    """Blend the colourised mask over the image (uint8); alpha 0 = photo, 1 = mask; hidden classes stay photo."""
    return np.asarray(overlay_image(image, result, alpha, hidden))


def boundaries(labels: np.ndarray, hidden: Iterable[int] = ()) -> np.ndarray:
    """H x W bool: True on the one-pixel-thin edges between classes (none between two hidden classes)."""
    labels = np.asarray(labels, np.uint8)
    hidden = tuple(hidden)
    if hidden:
        table = np.arange(256, dtype=np.uint8)
        table[list(hidden)] = 255  # hidden classes merge into one region with no edges inside
        labels = np.asarray(_label_image(labels, "L").point(table.tolist()))
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
    """A copy of `image` with thin class boundaries (or the given `edges`) drawn in `color`."""
    edges = boundaries(labels, hidden) if edges is None else edges
    pixels = np.array(image.convert("RGB"))
    pixels.reshape(-1, 3)[np.flatnonzero(edges)] = color
    return Image.fromarray(pixels)


def side_by_side(*images: Image.Image, gap: int = 8, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Images of the same height next to each other, `gap` pixels apart."""
    height = max(im.height for im in images)
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    canvas = Image.new("RGB", (width, height), background)
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + gap
    return canvas
