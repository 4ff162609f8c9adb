"""One image of a batch: segment it and write its outputs, or recognise outputs an earlier run left."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from ...core.export import save_image
from ...core.images import load_image
from ...core.imaging import blend_into, mask_image
from ...core.segmenter import Segmenter
from ...errors import DeeplabWidgetsError
from .records import ImageRecord

#: PNG text keys that tie a mask to the model and resize mode that made it (checked on resume).
MODEL_KEY, RESIZE_KEY = "deeplab_widgets.model_sha256", "deeplab_widgets.resize"
#: zlib level of mask PNGs: a class map compresses well at any level; level 1 encodes much faster than
#: Pillow's default 6 for somewhat larger files (benchmarks/RESULTS.md, "Batch").
MASK_PNG_LEVEL = 1


@dataclass(frozen=True)
class Job:
    """One input with the files it should produce."""

    index: int
    source: Any  # a path string or an in-memory image
    label: str
    mask: Path | None
    overlay: Path | None
    alpha: float
    rle: bool


def run_job(segmenter: Segmenter, job: Job) -> ImageRecord:
    """Segment one image and write its outputs; this package's own errors become a failed record.

    Args:
        segmenter: The segmenter to run.
        job: The image and the files it should produce.
    """
    try:
        # An overlay needs every pixel of the photo; a class map alone lets a JPEG decode at reduced scale.
        image = load_image(job.source, max_pixels=segmenter.max_pixels) if job.overlay is not None else None
        result = segmenter.segment(job.source if image is None else image)
    except DeeplabWidgetsError as exc:
        return ImageRecord.failure(exc, index=job.index, source=job.label)
    if job.mask is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(MODEL_KEY, segmenter.spec.digest)
        info.add_text(RESIZE_KEY, segmenter.resize)
        save_image(mask_image(result.labels, result.colormap), job.mask, pnginfo=info, compress_level=MASK_PNG_LEVEL)
    if job.overlay is not None and image is not None:
        save_image(blend_into(image, result, job.alpha), job.overlay)  # the photo is ours: no second copy
    return ImageRecord.from_result(
        result, index=job.index, source=job.label, mask=job.mask, overlay=job.overlay, rle=job.rle
    )


def _valid_png(path: Path, size: tuple[int, int] | None) -> Image.Image | None:
    """The decoded PNG when `path` is a complete PNG whose size fits `size` (either orientation), else None."""
    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        return None
    if im.format != "PNG" or (size is not None and im.size not in (size, size[::-1])):
        return None
    return im


def _source_size(source: Any) -> tuple[int, int] | None:
    try:
        if isinstance(source, str):
            with Image.open(source) as im:
                return im.size
        return load_image(source).size
    except (OSError, SyntaxError, ValueError, DeeplabWidgetsError):
        return None


def resumed(job: Job, segmenter: Segmenter, previous: dict[str, ImageRecord]) -> ImageRecord | None:
    """A "skipped" record when the job's outputs exist, are complete and come from this model, else None.

    The record comes from the earlier summary line when it describes the same outputs (and has the RLE if
    asked for), otherwise it is rebuilt from the mask file itself.

    Args:
        job: The image and the files it should produce.
        segmenter: The run's segmenter (its model digest and resize mode must match the mask's).
        previous: The earlier summary's records by input path.
    """
    if job.mask is None or not job.mask.is_file():
        return None
    size = _source_size(job.source)
    if size is None:
        return None
    mask = _valid_png(job.mask, size)
    if mask is None or mask.mode != "P":
        return None
    if mask.info.get(MODEL_KEY) != segmenter.spec.digest or mask.info.get(RESIZE_KEY) != segmenter.resize:
        return None
    if job.overlay is not None and _valid_png(job.overlay, mask.size) is None:
        return None
    old = previous.get(job.label)
    if old is not None and old.mask == job.mask and old.overlay == job.overlay and (not job.rle or old.rle):
        return replace(old, index=job.index, source=job.label, status="skipped")
    return ImageRecord.from_mask(
        np.asarray(mask),
        index=job.index,
        source=job.label,
        class_names=segmenter.class_names,
        model=segmenter.spec.name,
        resize=segmenter.resize,
        mask=job.mask,
        overlay=job.overlay,
        rle=job.rle,
    )
