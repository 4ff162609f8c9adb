"""Turning class maps into pictures: palette lookup and uint8 blending, never a Python pixel loop."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..segmenter import SegmentationResult


def colorize(labels: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """H x W class ids -> H x W x 3 uint8 colours by table lookup."""
    return np.asarray(colormap, np.uint8)[labels]


def overlay(image: Image.Image | np.ndarray, result: SegmentationResult, alpha: float = 0.5) -> np.ndarray:
    """Blend the colourised mask over the image (uint8 arithmetic); alpha 0 = photo, 1 = mask."""
    photo = np.asarray(image, np.uint8)
    if photo.shape[:2] != result.labels.shape:
        raise ValueError(
            f"image is {photo.shape[1]}x{photo.shape[0]} but the mask is {result.labels.shape[1]}x{result.labels.shape[0]}"
        )
    colors = colorize(result.labels, result.colormap)
    a = round(np.clip(alpha, 0.0, 1.0) * 256)
    blended = (photo[..., :3].astype(np.uint16) * (256 - a) + colors.astype(np.uint16) * a) >> 8
    return blended.astype(np.uint8)
