"""Writing results to disk: VOC-style palette PNG masks and images, always atomically."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import DeeplabWidgetsError, OutputError
from .checks import check_path
from .imaging import mask_image
from .segmenter import SegmentationResult

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so leftover temporary files are kept rather than risked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "PART_SUFFIX",
    "atomic_path",
    "check_output_file",
    "check_output_folder",
    "claim_folder",
    "mask_image",
    "output_error",
    "remove_stale_parts",
    "save_image",
    "save_json",
    "save_mask",
]

log = logging.getLogger("deeplab_widgets")

#: Suffix of the hidden temporary files `atomic_path` writes beside their target (`.<name>.<12 hex>.part`).
PART_SUFFIX = ".part"


_PART_PATTERN = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}" + re.escape(PART_SUFFIX))


def _part_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The project's error for an OS failure writing `path`, with the system's reason (disk full, ...)."""
    return OutputError(f"cannot write {os.fspath(path)}: {(exc.strerror or str(exc)).lower()}")


def _check_writable(folder: Path, target: Path) -> None:
    """Raise `OutputError` (naming `target`) unless the nearest existing folder at or above `folder` is writable."""
    for candidate in (folder.absolute(), *folder.absolute().parents):
        if not candidate.exists():
            continue
        if not candidate.is_dir():
            raise OutputError(f"cannot write {target}: {candidate} is a file, not a folder")
        if not os.access(candidate, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {target}: {candidate} is not writable (read-only or no permission)")
        return


def check_output_file(path: str | os.PathLike) -> Path:
    """`path` as a `Path`, once it is known it can become a file; call it before the work that produces it.

    Raises:
        OutputError: `path` is a folder, one of its parents is a file, or the folder it goes in is not writable.
        OptionsError: `path` is not a path.
    """
    target = check_path("output file", path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    _check_writable(target.parent, target)
    return target


def check_output_folder(path: str | os.PathLike) -> Path:
    """`path` as a `Path`, once it is known it can be (or is) a folder to write into; call it before the work.

    Raises:
        OutputError: `path` is a file, one of its parents is a file, or it (or the folder it goes in) is not
            writable.
        OptionsError: `path` is not a path.
    """
    target = check_path("output folder", path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write into {target}: it is a file, not a folder")
    _check_writable(target, target)
    return target


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it vanishes.

    Args:
        path: The final file; its folder is created.

    Raises:
        OutputError: The folder cannot be created, or writing or renaming failed (the OS error is its cause).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(target, exc) from exc
    # A unique hidden name beside the target (not mkstemp: its 0600 mode would stick to the output).
    tmp = _part_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, DeeplabWidgetsError):
            raise output_error(target, exc) from exc
        raise


def remove_stale_parts(folder: str | os.PathLike, is_target: Callable[[str], bool]) -> list[Path]:
    """Delete the temporary files and folders a killed run left under `folder`; returns them.

    Only hidden names of exactly this module's pattern, `.<target>.<12 hex digits>.part`, whose target name
    passes `is_target` are removed: other programs' files are never touched. Call it only while holding
    `claim_folder`'s exclusive claim: another run's files in progress have the same names.

    Args:
        folder: The output folder, searched recursively.
        is_target: Whether a target name is one of the caller's outputs.
    """
    removed = []
    for entry in Path(folder).rglob(f".*{PART_SUFFIX}"):
        match = _PART_PATTERN.fullmatch(entry.name)
        if not match or not is_target(match["target"]):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextmanager
def claim_folder(folder: str | os.PathLike, is_target: Callable[[str], bool]) -> Iterator[list[Path]]:
    """Hold a claim on an output folder while a run writes into it; yields the stale temporary files removed.

    Every run holds a shared lock on the folder itself (`flock` on its descriptor: no lock file is left
    behind). The temporary files of killed runs are removed only when the exclusive lock can be had, i.e.
    when no other run is writing there, so two runs into one folder never delete each other's files in
    progress; the leftovers are then removed by the next run that finds the folder to itself. The folder is
    created if needed. Without `fcntl` (Windows) nothing is removed.

    Raises:
        OutputError: `folder` is a file, or cannot be created or read.
    """
    path = check_output_folder(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from exc
    if fcntl is None:
        yield []
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise output_error(path, exc) from exc
    try:
        removed: list[Path] = []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.info("%s: another run is writing here; its temporary files are left alone", path)
        else:
            removed = remove_stale_parts(path, is_target)
        fcntl.flock(fd, fcntl.LOCK_SH)  # converts the exclusive lock, or waits out another run's clean-up
        yield removed
    finally:
        os.close(fd)  # releases the lock


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
