"""Reading any image a user may hand us into an upright 8-bit RGB PIL image, or a clear error."""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..errors import ImageDecodeError, ImageNotFoundError, ImageTooLargeError, ImageTooSmallError, OptionsError
from .checks import check_int
from .size import Size

ImageInput = str | os.PathLike | bytes | bytearray | Image.Image | np.ndarray

#: Refuse images above this many pixels unless told otherwise (a decompression-bomb guard).
DEFAULT_MAX_PIXELS = 64_000_000
#: Refuse images whose shorter side is below this (a 1x1 image holds nothing to segment).
DEFAULT_MIN_SIDE = 8

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: The readable formats, as error messages list them.
READABLE = "JPEG, PNG, BMP, GIF, WebP or TIFF"


def load_image(
    source: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Image.Image:
    """Decode `source` (path, bytes, PIL image or array) to an EXIF-upright RGB image.

    Odd modes (L, LA, P, RGBA, CMYK, 16-bit) become RGB; transparency is composited on white.

    Args:
        source: A path, bytes, a PIL image or an H x W (x 1|3|4) array (uint8, uint16 or float in [0, 1]).
        max_pixels: Refuse larger images with `ImageTooLargeError` (before decoding).
        min_side: Refuse images with a shorter side with `ImageTooSmallError`.

    Raises:
        ImageNotFoundError: A path that does not exist.
        ImageDecodeError: Not an image, truncated, a closed PIL image, or an array that is not an image
            (wrong shape or dtype, floats outside [0, 1], NaN).
        ImageTooLargeError: More than `max_pixels` pixels.
        ImageTooSmallError: A side shorter than `min_side`.
        OptionsError: `source` of another type, or a limit below 1.
    """
    _check_arguments(source, max_pixels, min_side)
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = _loaded(source)
    else:
        return _open(source, max_pixels, min_side=min_side).image
    _check_size(image, max_pixels, min_side, _describe(source))
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    return to_rgb(image)


@dataclass(frozen=True)
class Decoded:
    """A decoded photo, possibly at reduced scale, and the full size it stands for.

    `box` is the region of `image` (in its own pixels) that covers the whole photo: JPEG's DCT scaling
    rounds the reduced size up, so the last row/column may cover less than a full step.
    """

    image: Image.Image  # upright RGB
    size: Size  # the photo's full upright size
    box: tuple[float, float, float, float]  # (left, top, right, bottom), Pillow's order

    @property
    def reduced(self) -> bool:
        """True when `image` is smaller than the photo."""
        return Size.of(self.image) != self.size


def load_image_at_least(
    source: ImageInput,
    min_size: Callable[[Size], Size],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Decoded:
    """Decode `source` at the smallest scale whose size stays at or above `min_size(full upright size)`.

    For a JPEG file or bytes, the decoder's DCT scaling (`Image.draft`: 1/2, 1/4 or 1/8) skips most of the
    work of a large photo whose pixels are only needed at a model's input size; the full size is known
    from the header. Other formats and in-memory images are decoded (or taken) whole. Errors as `load_image`.

    Args:
        source: A path, bytes, a PIL image or an array.
        min_size: The smallest decoded size that will do, given the photo's full upright size (`Segmenter.decode_size`).
        max_pixels: Refuse larger images with `ImageTooLargeError` (before decoding).
        min_side: Refuse images with a shorter side with `ImageTooSmallError`.
    """
    _check_arguments(source, max_pixels, min_side)
    if isinstance(source, (np.ndarray, Image.Image)):
        image = load_image(source, max_pixels=max_pixels, min_side=min_side)
        return Decoded(image, Size.of(image), (0.0, 0.0, float(image.width), float(image.height)))
    return _open(source, max_pixels, min_side=min_side, min_size=min_size)


def _check_arguments(source: object, max_pixels: int, min_side: int) -> None:
    """Raise `OptionsError` for an image argument of the wrong type or limits out of range."""
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray)):
        raise OptionsError(f"image must be a path, bytes, a PIL image or a NumPy array, not {type(source).__name__}")
    check_int("max_pixels", max_pixels, minimum=1)
    check_int("min_side", min_side, minimum=1)


def _loaded(image: Image.Image) -> Image.Image:
    """A PIL image whose pixels are readable (a lazily opened one is loaded now).

    Raises:
        ImageDecodeError: The image was closed, or its file is truncated or damaged.
    """
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"the PIL image cannot be read ({exc}): is it closed, or its file truncated?") from exc
    return image


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return "the file"  # bytes are a file's content (an upload), which the caller names
    return f"<{type(source).__name__}>"


def _too_large(name: str, reason: str, max_pixels: int) -> ImageTooLargeError:
    """The refusal of an image so large that the decoder would not even open it (more than twice Pillow's
    `MAX_IMAGE_PIXELS`), in the words `_check_size` uses; `reason` is the decoder's message, which gives the size."""
    found = re.search(r"\((\d+) pixels\)", reason)
    size = f"{int(found[1]):,} pixels" if found else "too many pixels"
    ceiling = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if max_pixels > ceiling:
        return ImageTooLargeError(f"{name} is {size}, above the {ceiling:,} the image decoder opens at all")
    return ImageTooLargeError(f"{name} is {size}, above the limit of {max_pixels:,} (max_pixels)")


def _open(
    source: str | os.PathLike | bytes | bytearray,
    max_pixels: int,
    *,
    min_side: int,
    min_size: Callable[[Size], Size] | None = None,
) -> Decoded:
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
                orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
                turned = orientation in _TRANSPOSING
                stored = image.size
                upright = Size(stored[0], stored[1]) if turned else Size.of(image)
                _check_size(image, max_pixels, min_side, name)
                if min_size is not None and image.format == "JPEG":
                    need = min_size(upright).pil
                    image.draft(None, need[::-1] if turned else need)
                image.load()
                if orientation != 1 and image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
                    orientation, upright = 1, Size.of(image)  # Pillow turned it upright while loading (TIFF)
            except BaseException:
                image.close()
                raise
    except (ImageTooLargeError, ImageTooSmallError):
        raise
    except Image.DecompressionBombError as exc:
        raise _too_large(name, str(exc), max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{name} is not an image in a format that can be read ({READABLE})") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # the library's own words stay in the exception's cause
        raise ImageDecodeError(f"{name} could not be decoded: the file is damaged or cut short") from exc
    # The region of the (reduced) image that covers the photo: DCT scaling rounds the last block up.
    step = _dct_scale(stored[0], image.width)
    box = (0.0, 0.0, stored[0] / step, stored[1] / step)
    upright_image: Image.Image = image
    if orientation != 1:
        upright_image = ImageOps.exif_transpose(image)
        box = (0.0, 0.0, float(upright_image.width), float(upright_image.height))
    return Decoded(to_rgb(upright_image), upright, box)


#: EXIF orientations that swap width and height (transpose, 90 and 270 degree rotations).
_TRANSPOSING = (5, 6, 7, 8)


def _dct_scale(full: int, reduced: int) -> int:
    """The integer DCT scale (1, 2, 4 or 8) that turned `full` pixels into `reduced` (rounded up)."""
    for s in (1, 2, 4, 8):
        if -(-full // s) == reduced:
            return s
    return 1


def _check_size(image: Image.Image, max_pixels: int, min_side: int, name: str) -> None:
    w, h = image.size
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{name} is {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,} (max_pixels)"
        )
    if min(w, h) < min_side:
        raise ImageTooSmallError(f"{name} is {w}x{h}; images need at least {min_side} pixels per side")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16/32-bit keep their top 8 bits, alpha is composited on white.

    Args:
        image: A PIL image of any mode.
    """
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
        if not np.isfinite(arr).all():
            raise ImageDecodeError("float image arrays must hold values in [0, 1], not NaN or infinity")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ImageDecodeError("float image arrays must hold values in [0, 1]")
        data = (arr * 255 + 0.5).astype(np.uint8)
    else:
        raise ImageDecodeError(f"image arrays must be uint8, uint16 or float in [0, 1], not {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(data))
