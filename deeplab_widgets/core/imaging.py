"""Class maps as pictures: palette lookup, blending over the photo, palette-PNG masks.

Everything runs in Pillow's C code on zero-copy views of the uint8 class map, never a Python pixel loop.
It lives in the core so that writers of files (batch, CLI) need nothing from the visualisation layer;
`deeplab_widgets.viz` builds its figures on it. Hidden classes are simply not coloured: their pixels
show the photo in every mode. Overlays use a `labels.Palette`: by default the contrast colours, with the
background-like classes left clear; palette-PNG masks always carry the dataset's colour map.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, cast

import numpy as np
from PIL import Image

from ..deprecation import deprecated
from ..errors import SizeMismatchError
from .labels import ClassColors, Palette, class_colors
from .segmenter import SegmentationResult
from .size import Size

Picture = TypeVar("Picture")


def label_image(labels: np.ndarray, mode: str = "P") -> Image.Image:
    """A zero-copy PIL view ("P" or "L") of an H x W uint8 class map (other dtypes are converted first).

    Args:
        labels: An H x W class map.
        mode: `"P"` (palette) or `"L"` (grey levels).
    """
    labels = np.ascontiguousarray(labels, np.uint8)
    return Image.frombuffer(mode, (labels.shape[1], labels.shape[0]), labels, "raw", mode, 0, 1)


def size_mismatch(image_size: Size, labels: np.ndarray) -> str:
    """The message for a photo shown with a class map of another size (`SizeMismatchError`).

    Args:
        image_size: The photo's size.
        labels: The class map shown with it.
    """
    return (
        f"image is {image_size} but the mask is {Size.of(labels)}; show a result with the photo it was segmented from"
    )


def image_first(
    image: Picture | SegmentationResult, result: SegmentationResult | Picture, name: str
) -> tuple[Picture, SegmentationResult]:
    """`(image, result)`, the order of every drawing function; arguments given in the previous release's

    `(result, image)` order are swapped back, with a `DeprecationWarning` that names `name`.

    Args:
        image: What was passed first (the image, or a result in the old order).
        result: What was passed second.
        name: The function's name, for the warning.
    """
    if isinstance(image, SegmentationResult) and not isinstance(result, SegmentationResult):
        deprecated(f"{name}(result, image)", f"pass the image first: {name}(image, result)", stacklevel=4)
        return result, image
    return cast(Picture, image), cast(SegmentationResult, result)


def as_photo(image: Image.Image | np.ndarray, labels: np.ndarray) -> Image.Image:
    """The image as RGB PIL, checked to match the class map's size.

    Args:
        image: A PIL image or an H x W (x 3|4) uint8 array.
        labels: The class map it must match.

    Raises:
        SizeMismatchError: the image and the class map differ in size (e.g. a result of another photo).
    """
    if not isinstance(image, Image.Image):
        pixels = np.asarray(image, np.uint8)
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :3] if pixels.ndim == 3 else pixels))
    photo = image
    if photo.mode != "RGB":
        photo = photo.convert("RGB")
    if Size.of(photo) != labels.shape:
        raise SizeMismatchError(size_mismatch(Size.of(photo), labels))
    return photo


def colorize_image(labels: np.ndarray, colormap: np.ndarray) -> Image.Image:
    """H x W class ids -> an RGB PIL image by palette lookup.

    Args:
        labels: An H x W uint8 class map.
        colormap: 256 x 3 uint8 colours, one row per class id.
    """
    image = label_image(labels)
    image.putpalette(np.asarray(colormap, np.uint8)[:256].tobytes())
    return image.convert("RGB")


def colorize(labels: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """H x W class ids -> H x W x 3 uint8 colours by table lookup.

    Args:
        labels: An H x W uint8 class map.
        colormap: 256 x 3 uint8 colours, one row per class id.
    """
    return np.asarray(colorize_image(labels, colormap))


def visible_mask(labels: np.ndarray, hidden: Iterable[int] = (), alpha: float = 1.0) -> Image.Image:
    """An 8-bit mask: `alpha` * 255 where a class is shown, 0 where it is hidden.

    Args:
        labels: An H x W uint8 class map.
        hidden: Class ids that get 0.
        alpha: The level of the shown classes, 0 to 1.
    """
    level = round(float(np.clip(alpha, 0.0, 1.0)) * 255)
    table = [level] * 256
    for class_id in hidden:
        table[int(class_id)] = 0
    return label_image(labels, "L").point(table)


def colors_of(result: SegmentationResult, palette: Palette = "contrast") -> ClassColors:
    """The display colours of a result's classes in `palette` (see `labels.class_colors`).

    Args:
        result: The segmentation.
        palette: `"contrast"` (the default) or `"dataset"`.
    """
    return class_colors(result.class_names, result.colormap, palette)


def overlay_image(
    image: Image.Image | np.ndarray,
    result: SegmentationResult,
    alpha: float = 0.5,
    hidden: Iterable[int] = (),
    colors: Image.Image | None = None,
    palette: Palette = "contrast",
) -> Image.Image:
    """Blend the class colours over the photo; alpha 0 = photo, 1 = colours; hidden classes and the palette's clear
    classes (the background, with the default palette) stay photo.

    Args:
        image: The photo, of the result's size.
        result: The segmentation.
        alpha: Opacity of the class colours, 0 to 1.
        hidden: Class ids left uncoloured.
        colors: A cached `colorize_image(result.labels, colors_of(result, palette).colormap)`.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `labels.Palette`).
    """
    photo = as_photo(image, result.labels)
    palette_colors = colors_of(result, palette)
    colors = colorize_image(result.labels, palette_colors.colormap) if colors is None else colors
    uncoloured = set(map(int, hidden)) | palette_colors.clear
    if not uncoloured:
        return Image.blend(photo, colors, float(np.clip(alpha, 0.0, 1.0)))
    return Image.composite(colors, photo, visible_mask(result.labels, uncoloured, alpha))


#: Rows per band when `blend_into` colours a photo in place: about 4 MB of colours per band for a 4000 px wide photo.
BAND_PIXELS = 1_000_000


def blend_into(
    photo: Image.Image, result: SegmentationResult, alpha: float = 0.5, palette: Palette = "contrast"
) -> Image.Image:
    """`overlay_image` drawn into `photo` itself, a band of rows at a time; returns `photo`.

    For the writers that own the decoded photo (a batch's overlays): a 50 MP photo then needs no full-size
    colour image and no full-size blend beside it, only a band of each.

    Args:
        photo: The RGB photo the result was segmented from; it is changed.
        result: Its segmentation.
        alpha: Opacity of the colours: 0 = photo, 1 = colours.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `labels.Palette`).

    Raises:
        SizeMismatchError: the photo is not RGB or not the class map's size.
    """
    if photo.mode != "RGB" or Size.of(photo) != Size.of(result.labels):
        raise SizeMismatchError(size_mismatch(Size.of(photo), result.labels))
    alpha = float(np.clip(alpha, 0.0, 1.0))
    palette_colors = colors_of(result, palette)
    rows = max(1, BAND_PIXELS // max(photo.width, 1))
    for top in range(0, photo.height, rows):
        box = (0, top, photo.width, min(top + rows, photo.height))
        band = result.labels[box[1] : box[3]]
        colors = colorize_image(band, palette_colors.colormap)
        if palette_colors.clear:
            photo.paste(Image.composite(colors, photo.crop(box), visible_mask(band, palette_colors.clear, alpha)), box)
        else:
            photo.paste(Image.blend(photo.crop(box), colors, alpha), box)
    return photo


def overlay(
    image: Image.Image | np.ndarray,
    result: SegmentationResult,
    alpha: float = 0.5,
    hidden: Iterable[int] = (),
    palette: Palette = "contrast",
) -> np.ndarray:
    """`overlay_image` as a uint8 array: alpha 0 = photo, 1 = colours; hidden and clear classes stay photo.

    Args:
        image: The photo, of the result's size.
        result: The segmentation.
        alpha: Opacity of the class colours, 0 to 1.
        hidden: Class ids left uncoloured.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `labels.Palette`).
    """
    return np.asarray(overlay_image(image, result, alpha, hidden, palette=palette))


def mask_image(labels: np.ndarray, colormap: np.ndarray) -> Image.Image:
    """An indexed ("P") image of the class ids with the dataset's palette: any tool reads it (a zero-copy view).

    Args:
        labels: An H x W uint8 class map.
        colormap: 256 x 3 uint8 colours, one row per class id (the PNG's palette).
    """
    image = label_image(labels)
    image.putpalette(np.asarray(colormap, np.uint8)[:256].tobytes())
    return image
