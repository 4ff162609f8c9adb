"""What the browser viewer receives once per result: photo, class map, colours, names and top-3 scores.

Everything the viewer draws afterwards (alpha, modes, class toggles, zoom, hover) is computed in the browser
from these bytes, so a display-only change never costs a kernel round trip.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..core.export import mask_image
from ..core.imaging import image_first
from ..core.segmenter import SegmentationResult
from ..viz.confidence import heat_palette
from ..viz.masks import as_photo

#: JPEG quality of the photo sent to the browser (it is drawn under the class map, never re-encoded).
PHOTO_QUALITY = 90
#: Classes with probabilities per pixel sent to the browser (the readout shows the top 3).
TOP_K = 3


@dataclass(frozen=True)
class ViewerPayload:
    """The bytes for one result.

    `mask_png` is the palette PNG `save_mask` writes (pixel value = class id); `scores` is zlib-deflated
    uint8 at model resolution: top-3 class ids (h*w*3), their probabilities x 255 (h*w*3), then the entropy
    over all classes divided by log(C), x 255 (h*w); empty when the result has no scores.
    """

    photo: bytes
    mask_png: bytes
    colormap: bytes
    class_names: tuple[str, ...]
    scores: bytes
    score_shape: tuple[int, int, int]  # (h, w, C), (0, 0, 0) without scores
    heat_palette: bytes


def photo_jpeg(photo: Image.Image, quality: int = PHOTO_QUALITY) -> bytes:
    """The photo as JPEG bytes.

    Args:
        photo: The RGB photo.
        quality: JPEG quality.
    """
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def mask_png(result: SegmentationResult) -> bytes:
    """The class map as the palette PNG `save_mask` (and `segment --out`) writes: the same bytes.

    Args:
        result: The segmentation.
    """
    buffer = io.BytesIO()
    mask_image(result.labels, result.colormap).save(buffer, format="PNG")
    return buffer.getvalue()


def quantized_scores(scores: np.ndarray, k: int = TOP_K) -> bytes:
    """h x w x C probabilities -> deflated uint8 top-k ids, top-k probabilities and normalised entropy.

    Args:
        scores: h x w x C class probabilities.
        k: How many top classes per pixel.
    """
    h, w, c = scores.shape
    k = min(k, c)
    top = np.argpartition(-scores, k - 1, axis=-1)[..., :k] if k < c else np.broadcast_to(np.arange(c), (h, w, c))
    probs = np.take_along_axis(scores, top, axis=-1)
    order = np.argsort(-probs, axis=-1, kind="stable")
    top = np.take_along_axis(top, order, axis=-1)
    probs = np.take_along_axis(probs, order, axis=-1)
    if k < TOP_K:  # pad so the browser always reads three per pixel
        top = np.concatenate([top, np.zeros((h, w, TOP_K - k), top.dtype)], axis=-1)
        probs = np.concatenate([probs, np.zeros((h, w, TOP_K - k), probs.dtype)], axis=-1)
    entropy = -(scores * np.log(np.clip(scores, 1e-12, 1.0))).sum(axis=-1) / max(np.log(c), 1e-12)
    parts = (
        top.astype(np.uint8),
        np.clip(probs * 255 + 0.5, 0, 255).astype(np.uint8),
        np.clip(entropy * 255 + 0.5, 0, 255).astype(np.uint8),
    )
    return zlib.compress(b"".join(np.ascontiguousarray(p).tobytes() for p in parts), 1)


def viewer_payload(image: Image.Image | np.ndarray, result: SegmentationResult) -> ViewerPayload:
    """Encode `result` over `image` for the browser viewer.

    Args:
        image: The photo the result was made from.
        result: The segmentation (its scores, if any, become the top-3 readout and the heat maps).

    Raises:
        SizeMismatchError: The image and the class map differ in size.
    """
    image, result = image_first(image, result, "viewer_payload")
    photo = as_photo(image, result.labels)
    scores = result.scores
    return ViewerPayload(
        photo=photo_jpeg(photo),
        mask_png=mask_png(result),
        colormap=np.asarray(result.colormap, np.uint8).tobytes(),
        class_names=tuple(result.name_of(i) for i in range(256)),
        scores=quantized_scores(scores) if scores is not None else b"",
        score_shape=(scores.shape[0], scores.shape[1], scores.shape[2]) if scores is not None else (0, 0, 0),
        heat_palette=heat_palette("magma"),
    )
