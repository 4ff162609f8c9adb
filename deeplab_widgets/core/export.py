"""Writing results to disk: VOC-style palette PNG masks and images, always atomically."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from .imaging import mask_image
from .segmenter import SegmentationResult

__all__ = ["PART_SUFFIX", "atomic_path", "mask_image", "remove_stale_parts", "save_image", "save_json", "save_mask"]

#: Suffix of the hidden temporary files `atomic_path` writes beside their target (`.<name>.<12 hex>.part`).
PART_SUFFIX = ".part"


_PART_PATTERN = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}" + re.escape(PART_SUFFIX))


def _part_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it vanishes.

    Args:
        path: The final file; its folder is created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name beside the target (not mkstemp: its 0600 mode would stick to the output).
    tmp = _part_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_parts(folder: str | os.PathLike, is_target: Callable[[str], bool]) -> list[Path]:
    """Delete the temporary files `atomic_path` left under `folder` (a run killed mid-write); returns them.

    Only hidden names of exactly this module's pattern, `.<target>.<12 hex digits>.part`, whose target file
    name passes `is_target` are removed: other programs' files are never touched.

    Args:
        folder: The output folder, searched recursively.
        is_target: Whether a target file name is one of the caller's outputs.
    """
    removed = []
    for entry in Path(folder).rglob(f".*{PART_SUFFIX}"):
        match = _PART_PATTERN.fullmatch(entry.name)
        if match and is_target(match["target"]) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def save_mask(result: SegmentationResult, path: str | os.PathLike, **params: Any) -> Path:
    """Write the class map as a palette PNG (pixel value = class id); `params` go to Pillow's PNG writer.

    Args:
        result: The segmentation.
        path: The PNG file (written atomically; folders are created).
        **params: Pillow PNG options (e.g. `compress_level`, `pnginfo`).
    """
    return save_image(mask_image(result.labels, result.colormap), path, **params)


def save_image(image: Image.Image, path: str | os.PathLike, **params: Any) -> Path:
    """Write an image atomically; the format follows the file extension.

    Args:
        image: The PIL image.
        path: The file (written atomically; folders are created).
        **params: Pillow options for that format.
    """
    target = Path(path)
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    with atomic_path(target) as tmp:
        image.save(tmp, format=fmt, **params)
    return target


def save_json(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically.

    Args:
        data: Anything `json.dumps` takes.
        path: The file (written atomically; folders are created).
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    return target
