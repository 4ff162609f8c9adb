"""Fitting an image to the model input and mapping the prediction back to the image.

Two resize modes: "stretch" (what the TFLite example apps do) and "pad" (keep the aspect
ratio, pad bottom/right with the mean pixel, crop the prediction back: DeepLab's eval style).
Pixels are written straight into the interpreter's input tensor, with no temporary arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from PIL import Image

from ..errors import OptionsError
from ..tflite.metadata import Normalization
from .size import Size

#: How an image is fitted to the model input (see the module docstring).
ResizeMode = Literal["stretch", "pad"]
RESIZE_MODES: tuple[ResizeMode, ...] = get_args(ResizeMode)
#: Pillow's `reducing_gap` for fitting: reduce by floor(size / input) per axis first, then resample.
REDUCING_GAP = 1.5


@dataclass(frozen=True)
class Placement:
    """Where the image sits in the model input, and the size its class map goes back to.

    Attributes:
        image_size: The photo's full size: the size of the restored class map.
        content: The size of the resized photo inside the model input, from its top left corner.
    """

    image_size: Size
    content: Size


def check_resize(mode: str) -> ResizeMode:
    """Validate a resize mode name (`OptionsError` for an unknown one).

    Args:
        mode: The name to check.
    """
    if mode not in RESIZE_MODES:
        raise OptionsError(f"unknown resize mode {mode!r}; choose one of: {', '.join(RESIZE_MODES)}")
    return mode


def content_size(image_size: Size, size: Size, mode: str) -> Size:
    """The size an image of `image_size` takes inside a model input of `size` in resize mode `mode`.

    Args:
        image_size: The photo's full size.
        size: The model's input size.
        mode: `"stretch"` or `"pad"`.
    """
    h, w = size
    if mode == "stretch":
        return Size(h, w)
    scale = min(h / image_size.height, w / image_size.width)
    return Size(max(1, round(image_size.height * scale)), max(1, round(image_size.width * scale)))


def fit(
    image: Image.Image,
    size: Size,
    mode: ResizeMode,
    *,
    full_size: Size | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> tuple[np.ndarray, Placement]:
    """Resize `image` for a model input of `size`; returns uint8 pixels and placement.

    `full_size` and `box` describe a photo decoded at reduced scale (`images.load_image_at_least`): the
    placement, and so the restored class map, then follow the photo's full size, and `box` (left, top,
    right, bottom, in Pillow's order) is the region of `image` that covers the photo.

    Args:
        image: The RGB photo (possibly decoded at reduced scale).
        size: The model's input size.
        mode: `"stretch"` or `"pad"`.
        full_size: The photo's full size when `image` is a reduced decode (default: `image`'s size).
        box: The region of `image` that covers the photo (default: all of it).
    """
    full = full_size or Size.of(image)
    ch, cw = content_size(full, size, mode)
    # Shrinking: area averaging (BOX) anti-aliases as well as bilinear for less CPU and scored as well
    # on the VOC sample; enlarging: bilinear (BOX would be nearest-neighbour). A large photo is first
    # reduced by the largest integer factor that stays at or above the input (`Image.reduce`, a plain
    # block average, cheaper than BOX over the whole photo), then BOX-resized the rest.
    shrinking = cw <= image.width and ch <= image.height
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    whole = box is None or box == (0.0, 0.0, float(image.width), float(image.height))
    if image.size == (cw, ch) and whole:
        resized = image
    else:
        resized = image.resize((cw, ch), resample, box=None if whole else box, reducing_gap=REDUCING_GAP)
    return np.asarray(resized), Placement(full, Size(ch, cw))


def write_input(
    target: np.ndarray,
    pixels: np.ndarray,
    dtype: np.dtype,
    quantization: tuple[float, int],
    norm: Normalization,
) -> None:
    """Normalise (and quantize) uint8 `pixels` into the H x W x 3 input view `target`, padding the rest.

    Args:
        target: The H x W x 3 input tensor view to fill.
        pixels: h x w x 3 uint8 RGB, at most the input's size (placed top-left).
        dtype: The input tensor's type (float32, uint8 or int8).
        quantization: The input's (scale, zero point); (0.0, 0) for float inputs.
        norm: The model's mean and standard deviation.
    """
    ch, cw = pixels.shape[:2]
    box = target[:ch, :cw]
    if np.issubdtype(dtype, np.floating):
        if box.shape != target.shape:
            target.fill(0.0)  # the mean pixel, normalised
        np.subtract(pixels, np.float32(norm.mean), out=box, dtype=np.float32)
        box *= np.float32(1.0 / norm.std)
        return
    scale, zero = quantization
    a = 1.0 / (norm.std * scale) if scale else 1.0
    b = zero - norm.mean * a
    info = np.iinfo(dtype)
    if box.shape != target.shape:
        target.fill(int(np.clip(round(norm.mean * a + b), info.min, info.max)))
    if abs(a - 1) < 0.01 and abs(b) < 1.0 and dtype == np.uint8:
        np.copyto(box, pixels)  # e.g. scale 1/128, zero point 128: the pixels are the quantized values
    else:
        np.copyto(box, np.clip(np.rint(pixels * a + b), info.min, info.max), casting="unsafe")


def restore(labels: np.ndarray, placement: Placement) -> np.ndarray:
    """Crop a model-resolution label map to the content box and scale it to the image size.

    Args:
        labels: The class map at the model's resolution.
        placement: Where the photo sat in the input and its full size.
    """
    ch, cw = placement.content
    crop = np.ascontiguousarray(labels[:ch, :cw], np.uint8)
    if placement.content == placement.image_size:
        return crop
    # One nearest-neighbour resize of the uint8 map, from a zero-copy view of it.
    view = Image.frombuffer("L", (cw, ch), crop, "raw", "L", 0, 1)
    return np.asarray(view.resize(placement.image_size.pil, Image.Resampling.NEAREST))


def class_counts(labels: np.ndarray) -> np.ndarray:
    """Pixels per class id (length 256, int64) of an H x W uint8 class map.

    Pillow's histogram of a zero-copy view: no temporary array (np.bincount would first widen the map to
    8 bytes per pixel, 400 MB for a 50-megapixel photo) and several times faster.

    Args:
        labels: An H x W class map (converted to uint8 if need be).
    """
    labels = np.ascontiguousarray(labels, np.uint8)
    view = Image.frombuffer("L", (labels.shape[1], labels.shape[0]), labels, "raw", "L", 0, 1)
    return np.asarray(view.histogram(), np.int64)


def argmax_labels(scores: np.ndarray) -> np.ndarray:
    """H x W x C scores -> H x W uint8 class ids (the fallback when no ARG_MAX head could be grafted).

    Args:
        scores: H x W x C class scores.
    """
    return scores.argmax(axis=-1).astype(np.uint8)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Per-pixel class probabilities from H x W x C float logits (a new float32 array).

    Args:
        logits: H x W x C float logits.
    """
    probs = np.array(logits, np.float32)
    probs -= probs.max(axis=-1, keepdims=True)
    np.exp(probs, out=probs)
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def dequantized_softmax(logits: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """Per-pixel class probabilities (float32) from H x W x C logits, dequantized with (scale, zero point).

    For 8-bit logits the exponentials come from a 256-entry table (one lookup per value instead of a
    subtraction and an `exp`); the per-pixel normalisation cancels the table's common offset. Float
    logits, or a scale so large that the table could overflow, take the plain `softmax` path.

    Args:
        logits: H x W x C logits, float or 8-bit.
        quantization: Their (scale, zero point); (0.0, 0) for float logits.
    """
    scale, zero = quantization
    if not scale:
        return softmax(logits)
    if logits.dtype in (np.uint8, np.int8) and 255 * scale < 80:
        info = np.iinfo(logits.dtype)
        values = np.arange(info.min, info.max + 1, dtype=np.float32)
        table = np.exp((values - values[-1]) * np.float32(scale)).astype(np.float32)
        codes = logits.view(np.uint8) if logits.dtype == np.int8 else logits
        if logits.dtype == np.int8:  # int8 -128..127 as uint8 0..255 puts -128 at 128: reorder the table
            table = np.roll(table, -128)
        probs = table[codes]
        probs /= probs.sum(axis=-1, keepdims=True)
        return probs
    return softmax((logits.astype(np.float32) - np.float32(zero)) * np.float32(scale))
