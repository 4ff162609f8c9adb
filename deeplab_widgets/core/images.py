"""Reading any image a user may hand us into an upright 8-bit RGB PIL image, or a clear error."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..errors import ImageDecodeError, ImageNotFoundError, ImageTooLargeError, ImageTooSmallError

ImageInput = str | os.PathLike | bytes | bytearray | Image.Image | np.ndarray

#: Refuse images above this many pixels unless told otherwise (a decompression-bomb guard).
DEFAULT_MAX_PIXELS = 64_000_000
#: Refuse images whose shorter side is below this (a 1x1 image holds nothing to segment).
DEFAULT_MIN_SIDE = 8

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(
    source: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Image.Image:
    """Decode `source` (path, bytes, PIL image or array) to an EXIF-upright RGB image.

    Odd modes (L, LA, P, RGBA, CMYK, 16-bit) become RGB; transparency is composited on white.
    """
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source, max_pixels)
    _check_size(image, max_pixels, min_side, _describe(source))
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def _open(source: str | os.PathLike | bytes | bytearray, max_pixels: int) -> Image.Image:
    name = _describe(source)
    fp: io.BytesIO | Path
    if isinstance(source, (bytes, bytearray)):
        fp = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageNotFoundError(f"image not found: {path}")
        fp = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
            try:
                _check_size(image, max_pixels, 0, name)
                image.load()
            except BaseException:
                image.close()
                raise
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{name} is not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"{name} could not be decoded ({exc}); is it truncated?") from exc
    return image


def _check_size(image: Image.Image, max_pixels: int, min_side: int, name: str) -> None:
    w, h = image.size
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{name} is {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,} (max_pixels)"
        )
    if min(w, h) < min_side:
        raise ImageTooSmallError(f"{name} is {w}x{h}; images need at least {min_side} pixels per side")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16/32-bit keep their top 8 bits, alpha is composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image)
        top = arr.max(initial=0)
        shift = 8 if top > 255 or image.mode.startswith("I;16") else 0
        return Image.fromarray(np.clip(arr >> shift, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ImageDecodeError(f"array of shape {arr.shape} is not an image (need HxW, HxWx3 or HxWx4)")
    if arr.dtype == np.uint8:
        data = arr
    elif arr.dtype == np.uint16:
        data = (arr >> 8).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
            raise ImageDecodeError("float image arrays must hold values in [0, 1]")
        data = (np.nan_to_num(arr) * 255 + 0.5).astype(np.uint8)
    else:
        raise ImageDecodeError(f"image arrays must be uint8, uint16 or float in [0, 1], not {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(data))
