"""Expanding what the user hands `segment_many` (paths, folders, in-memory images) into named inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...core.images import IMAGE_EXTENSIONS
from ...errors import OptionsError, OutputConflictError


@dataclass(frozen=True)
class Item:
    """One input and the name its outputs get."""

    source: Any
    label: str
    name: str  # output name without suffix, relative to out_dir ("sub/cat")


def expand_inputs(inputs: Any, exclude: Path | None = None) -> list[Item]:
    """Paths, folders (recursive, image extensions, hidden files skipped) or images -> items with output names.

    A file is named by its stem; a folder's images keep their path relative to that folder, so same-named files
    in different subfolders never collide. Same stem, different extension: the extension joins the name.
    A file reached twice (listed and inside a listed folder) is segmented once.

    Args:
        inputs: A path, a folder, or an iterable of paths, folders and in-memory images.
        exclude: A folder whose files are never inputs (the output folder).

    Raises:
        OptionsError: `inputs` (or one of them) of another type.
        OutputConflictError: Two inputs would write the same output file.
    """
    if isinstance(inputs, (str, os.PathLike, Image.Image, np.ndarray, bytes, bytearray)):
        inputs = [inputs]
    elif not isinstance(inputs, Iterable):
        raise OptionsError(f"inputs must be a path, a folder, an image or an iterable of them, not {inputs!r:.60}")
    items: list[Item] = []
    seen: set[Path] = set()
    excluded = exclude.resolve() if exclude is not None else None
    for k, item in enumerate(inputs):
        if not isinstance(item, (str, os.PathLike)):
            if not isinstance(item, (Image.Image, np.ndarray, bytes, bytearray)):
                raise OptionsError(
                    f"inputs[{k}] must be a path, a PIL image, an array or bytes, not {type(item).__name__}"
                )
            items.append(Item(item, f"<image {k}>", f"image_{k:05d}"))
            continue
        path = Path(item)
        if path.is_dir():
            found = [
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not (excluded and excluded in p.resolve().parents)
                and p.is_file()
            ]
            pairs = [(p, p.relative_to(path)) for p in sorted(found)]
        else:
            pairs = [(path, Path(path.name))]
        for p, rel in pairs:
            key = p.resolve()
            if key in seen:
                continue
            seen.add(key)
            items.append(Item(str(p), str(p), rel.with_suffix("").as_posix()))
    return _disambiguate(items)


def _disambiguate(items: list[Item]) -> list[Item]:
    suffixes: dict[str, set[str]] = {}
    for it in items:
        suffixes.setdefault(it.name, set()).add(Path(it.label).suffix.lower())
    out = []
    for it in items:
        if len(suffixes[it.name]) > 1:  # cat.jpg and cat.png side by side: cat_jpg and cat_png
            it = replace(it, name=f"{it.name}_{Path(it.label).suffix.lstrip('.').lower()}")
        out.append(it)
    owners: dict[str, str] = {}
    for it in out:
        if it.name in owners:
            raise OutputConflictError(
                f"{owners[it.name]} and {it.label} would both write {it.name}_mask.png; "
                "segment them into different output folders"
            )
        owners[it.name] = it.label
    return out
