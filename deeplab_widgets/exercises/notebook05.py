"""Notebook 05 (batch): the exercises' expected answers, from real batch runs of the starter model.

The runs work in a folder laid out as the notebook's (four sample photos, the cat again in a subfolder and a
truncated JPEG), made in a temporary directory that lives as long as the process.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..assets.samples import sample_path
from ..core.segmenter import present_classes
from ..workflows.batch import BatchReport, segment_many
from . import exercise, returned, returned_each

STARTER = "deeplabv3-starter"
PHOTOS = ("cat", "pets", "bird", "grace_hopper")


@cache
def _workspace() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="deeplab-widgets-exercises-05-")


def _photos(root: Path) -> Path:
    """The notebook's folder of photos under `root`."""
    photos = root / "photos"
    (photos / "more").mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(sample_path(name), photos / sample_path(name).name)
    shutil.copyfile(sample_path("cat"), photos / "more" / "cat.bmp")
    (photos / "broken.jpg").write_bytes(sample_path("pets").read_bytes()[:3000])
    return photos


@cache
def _run() -> tuple[Path, BatchReport]:
    """The photos folder and the report of one run over it (masks only)."""
    root = Path(_workspace().name)
    photos = _photos(root)
    return photos, segment_many(photos, STARTER, root / "out", progress=False).run()


def _masks() -> list[Path]:
    _, report = _run()
    return [r.mask for r in report.records if r.mask is not None]


def _shares_of(fn: Callable[[Path], Any]) -> list[Any] | None:
    return returned_each(
        [fn(path) for path in _masks()], lambda a: sorted((int(k), float(v)) for k, v in dict(a).items())
    )


@exercise(
    "05.not-an-image",
    hint="write the text file into the photos folder, run segment_many into a fresh output folder and count "
    "the records (len(list(run)) or len(report.records)); then compare with the first run's count",
)
def _not_an_image() -> int:
    root = Path(_workspace().name) / "notes"
    photos = _photos(root)
    (photos / "notes.txt").write_text("a text file among the photos\n", "utf-8")
    return len(segment_many(photos, STARTER, root / "out", progress=False).run().records)


@exercise(
    "05.mask-shares",
    hint="open the PNG with PIL and take np.asarray of it: each pixel value is a class id; count each id "
    "(np.unique(..., return_counts=True)) and divide by the number of pixels",
    abs=1e-6,
    apply=_shares_of,
)
def _mask_shares() -> list[list[tuple[int, float]]]:
    out = []
    for path in _masks():
        labels = np.asarray(Image.open(path))
        out.append(sorted((s.id, s.fraction) for s in present_classes(labels, ())))
    return out


def _photo_paths() -> list[Path]:
    _, report = _run()
    return [Path(r.source) for r in report.records if r.mask is not None]


@exercise(
    "05.mask-name",
    hint="take the photo's path relative to the photos folder, keep its folders, and replace the suffix by "
    "'_mask.png' (pathlib: relative_to, with_name, stem); give the path as a string with '/' between folders",
    apply=lambda fn: returned_each([fn(path, _run()[0]) for path in _photo_paths()], lambda x: Path(x).as_posix()),
)
def _mask_name() -> list[str]:
    _, report = _run()
    assert report.out_dir is not None
    return [r.mask.relative_to(report.out_dir).as_posix() for r in report.records if r.mask is not None]


def _summary_lines() -> list[dict[str, Any]]:
    _, report = _run()
    assert report.summary is not None
    return [json.loads(line) for line in report.summary.read_text("utf-8").splitlines()]


@exercise(
    "05.top-classes",
    hint="read summary.jsonl line by line with json.loads; skip the failed lines; in 'classes' leave out the "
    "background and take the name with the largest 'fraction'; key the answer by Path(line['path']).name",
    apply=lambda fn: returned(fn(_run()[1].summary), lambda a: sorted(dict(a).items())),
)
def _top_classes() -> list[tuple[str, str]]:
    tops = {}
    for line in _summary_lines():
        if line["status"] == "ok":
            classes = [c for c in line["classes"] if c["id"] != 0]
            tops[Path(line["path"]).name] = max(classes, key=lambda c: c["fraction"])["name"]
    return sorted(tops.items())


@exercise(
    "05.resume",
    hint="delete the mask, run segment_many again on the same folders with resume=True, and count the records "
    "whose status is 'ok' (report.count('ok'))",
)
def _resume() -> int:
    root = Path(_workspace().name) / "resume"
    photos = _photos(root)
    out = root / "out"
    segment_many(photos, STARTER, out, overlay=True, progress=False).run()
    (out / "cat_mask.png").unlink()
    return segment_many(photos, STARTER, out, overlay=True, resume=True, progress=False).run().count("ok")
