"""Writing results to disk: VOC-style palette PNG masks and images, always atomically."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .segmenter import SegmentationResult


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it vanishes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name beside the target (not mkstemp: its 0600 mode would stick to the output).
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def mask_image(labels: np.ndarray, colormap: np.ndarray) -> Image.Image:
    """An indexed ("P") image of the class ids with the dataset's palette: any tool reads it."""
    image = Image.fromarray(labels, mode="P") if labels.dtype == np.uint8 else Image.fromarray(labels.astype(np.uint8))
    image.putpalette(np.asarray(colormap, np.uint8).ravel().tolist())
    return image


def save_mask(result: SegmentationResult, path: str | os.PathLike) -> Path:
    """Write the class map as a palette PNG (pixel value = class id)."""
    return save_image(mask_image(result.labels, result.colormap), path)


def save_image(image: Image.Image, path: str | os.PathLike, **params: Any) -> Path:
    """Write an image atomically; the format follows the file extension."""
    target = Path(path)
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    with atomic_path(target) as tmp:
        image.save(tmp, format=fmt, **params)
    return target


def save_json(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    return target


def summary(result: SegmentationResult) -> dict[str, Any]:
    """A JSON-ready summary of a result: size, classes with shares, timings."""
    h, w = result.labels.shape
    return {
        "model": result.model,
        "width": w,
        "height": h,
        "resize": result.resize,
        "classes": [{"id": c.id, "name": c.name, "fraction": round(c.fraction, 6)} for c in result.present_classes()],
        "timings_ms": {
            "preprocess": round(result.timings.preprocess_ms, 3),
            "invoke": round(result.timings.invoke_ms, 3),
            "postprocess": round(result.timings.postprocess_ms, 3),
        },
    }
