"""Small overlay pictures of results, for galleries: the photo and the mask are shrunk before blending."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from ..core.imaging import overlay_image
from ..core.labels import Palette
from ..core.segmenter import SegmentationResult
from ..core.size import Size
from ..errors import SizeMismatchError
from .masks import size_mismatch

#: The longer side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 160


def thumbnail(
    image: Image.Image,
    result: SegmentationResult,
    size: int = THUMBNAIL_SIZE,
    alpha: float = 0.6,
    palette: Palette = "contrast",
) -> Image.Image:
    """An overlay at most `size` pixels on its longer side (class ids shrink by nearest neighbour: no new ids).

    Args:
        image: The photo, of the result's size.
        result: Its segmentation.
        size: The longer side in pixels.
        alpha: Opacity of the class colours, 0 to 1.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
    """
    if Size.of(image) != result.labels.shape:
        raise SizeMismatchError(size_mismatch(Size.of(image), result.labels))
    scale = min(1.0, size / max(image.size))
    box = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    photo = image.convert("RGB").resize(box, Image.Resampling.BILINEAR, reducing_gap=2.0)
    labels = np.asarray(Image.fromarray(result.labels).resize(box, Image.Resampling.NEAREST))
    return overlay_image(photo, replace(result, labels=labels), float(np.clip(alpha, 0.0, 1.0)), palette=palette)
