"""What a batch run reports: one `ImageRecord` per input, the `BatchReport`, and the summary file they map to.

`ImageRecord.to_json` / `ImageRecord.from_json` are the one serializer of a record to and from its line in
`summary.jsonl`; records are built from a result (`from_result`), a failure (`failure`) or a kept mask
(`from_mask`) directly, never by writing a dict and parsing it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from ...core.export import atomic_path
from ...core.preprocess import ResizeMode, check_resize, class_counts
from ...core.runtime import RuntimeOptions
from ...core.segmenter import ClassShare, SegmentationResult, Timings, present_classes
from ...core.size import Size
from ...errors import DeeplabWidgetsError, ImageDecodeError, OptionsError, OutputError

#: The run's summary file in `out_dir`: one JSON object per input image, in input order.
SUMMARY_NAME = "summary.jsonl"

#: What happened to an input: segmented now, kept from an earlier run (resume), or failed.
BatchStatus = Literal["ok", "skipped", "failed"]

#: Digits kept in the summary: class shares to 1e-6, timings to 1 us.
FRACTION_DIGITS, TIMING_DIGITS = 6, 3


def coco_rle(labels: np.ndarray) -> dict[str, str]:
    """COCO run-length encoding (pycocotools) of each class present: {class id: counts string}.

    Args:
        labels: An H x W uint8 class map.
    """
    from pycocotools import mask as coco

    ids = np.flatnonzero(class_counts(labels))
    return {str(i): coco.encode(np.asfortranarray(labels == i, dtype=np.uint8))["counts"].decode("ascii") for i in ids}


def _rounded(shares: Sequence[ClassShare]) -> tuple[ClassShare, ...]:
    """Class shares rounded as the summary stores them."""
    return tuple(ClassShare(c.id, c.name, round(c.fraction, FRACTION_DIGITS)) for c in shares)


def _rle(labels: np.ndarray, rle: bool) -> tuple[tuple[int, str], ...]:
    return tuple((int(i), c) for i, c in coco_rle(labels).items()) if rle else ()


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    """What happened to one input: `status` is "ok", "skipped" (resume: valid outputs existed) or "failed".

    Keyword-only: build one with `from_result`, `from_mask`, `failure` or `from_json`.
    """

    index: int
    source: str  # the path, or "<image N>" for an in-memory image
    status: BatchStatus
    mask: Path | None = None
    overlay: Path | None = None
    size: Size | None = None
    model: str | None = None
    resize: ResizeMode | None = None
    classes: tuple[ClassShare, ...] = ()
    timings: Timings | None = None
    error: str | None = None  # the error message when failed
    error_type: str | None = None  # its exception class name, e.g. "ImageDecodeError"
    rle: tuple[tuple[int, str], ...] = field(default=(), repr=False)  # COCO RLE counts per class id

    @property
    def ok(self) -> bool:
        """True when the image has a mask (made now or kept from an earlier run)."""
        return self.status != "failed"

    @classmethod
    def from_result(
        cls,
        result: SegmentationResult,
        *,
        index: int,
        source: str,
        mask: Path | None = None,
        overlay: Path | None = None,
        rle: bool = False,
    ) -> ImageRecord:
        """The "ok" record of a fresh result (shares and timings rounded as the summary stores them).

        Args:
            result: The fresh segmentation.
            index: The input's position in the run.
            source: The input's path, or `<image N>`.
            mask: The mask file written, if any.
            overlay: The overlay file written, if any.
            rle: Add COCO RLE per class.
        """
        t = result.timings
        return cls(
            index=index,
            source=source,
            status="ok",
            mask=mask,
            overlay=overlay,
            size=Size.of(result.labels),
            model=result.model,
            resize=result.resize,
            classes=_rounded(result.present_classes()),
            timings=Timings(
                round(t.preprocess_ms, TIMING_DIGITS),
                round(t.invoke_ms, TIMING_DIGITS),
                round(t.postprocess_ms, TIMING_DIGITS),
            ),
            rle=_rle(result.labels, rle),
        )

    @classmethod
    def from_mask(
        cls,
        labels: np.ndarray,
        *,
        index: int,
        source: str,
        class_names: Sequence[str],
        model: str,
        resize: ResizeMode,
        mask: Path,
        overlay: Path | None = None,
        rle: bool = False,
    ) -> ImageRecord:
        """The "skipped" record of a mask kept from an earlier run (classes counted from the mask itself).

        Args:
            labels: The kept mask's class map.
            index: The input's position in the run.
            source: The input's path, or `<image N>`.
            class_names: The model's class names.
            model: The model's name.
            resize: The resize mode the mask was made with.
            mask: The kept mask file.
            overlay: The kept overlay file, if any.
            rle: Add COCO RLE per class.
        """
        return cls(
            index=index,
            source=source,
            status="skipped",
            mask=mask,
            overlay=overlay,
            size=Size.of(labels),
            model=model,
            resize=resize,
            classes=_rounded(present_classes(labels, class_names, counts=class_counts(labels))),
            rle=_rle(labels, rle),
        )

    @classmethod
    def failure(cls, exc: DeeplabWidgetsError, *, index: int, source: str) -> ImageRecord:
        """The "failed" record of an image this package's own error stopped.

        Args:
            exc: The error that stopped the image.
            index: The input's position in the run.
            source: The input's path, or `<image N>`.
        """
        return cls(index=index, source=source, status="failed", error=str(exc), error_type=type(exc).__name__)

    def to_json(self, out_dir: Path | None = None) -> dict[str, Any]:
        """The summary-file line: path, size, classes with shares, timings (output paths relative to `out_dir`).

        Args:
            out_dir: Output paths are written relative to it (None: as they are).
        """

        def rel(p: Path | None) -> str | None:
            return None if p is None else (p.relative_to(out_dir).as_posix() if out_dir else str(p))

        line: dict[str, Any] = {"path": self.source, "status": "failed" if self.status == "failed" else "ok"}
        if self.error is not None:
            line.update(error=self.error, error_type=self.error_type)
            return line
        line.update(mask=rel(self.mask), overlay=rel(self.overlay), model=self.model)
        line.update(width=self.size.width if self.size else None, height=self.size.height if self.size else None)
        line.update(resize=self.resize)
        line["classes"] = [{"id": c.id, "name": c.name, "fraction": c.fraction} for c in self.classes]
        if self.timings is not None:
            t = self.timings
            line["timings_ms"] = {"preprocess": t.preprocess_ms, "invoke": t.invoke_ms, "postprocess": t.postprocess_ms}
        if self.rle and self.size is not None:
            line["rle"] = {"size": list(self.size), "counts": {str(i): c for i, c in self.rle}}
        return line

    @classmethod
    def from_json(
        cls, line: Mapping[str, Any], *, index: int, status: BatchStatus, out_dir: Path | None = None
    ) -> ImageRecord:
        """Rebuild a record from a summary line (the inverse of `to_json`); paths are joined to `out_dir`.

        Args:
            line: One parsed summary line.
            index: The input's position in the run.
            status: The record's status (a line of an earlier run read on resume is "skipped").
            out_dir: Relative output paths are joined to it.
        """

        def path(p: str | None) -> Path | None:
            return None if p is None else (out_dir / p if out_dir else Path(p))

        if line.get("error") is not None:
            return cls(
                index=index,
                source=line["path"],
                status="failed",
                error=line["error"],
                error_type=line.get("error_type"),
            )
        t = line.get("timings_ms")
        rle = line.get("rle")
        return cls(
            index=index,
            source=line["path"],
            status=status,
            mask=path(line.get("mask")),
            overlay=path(line.get("overlay")),
            size=Size(line["height"], line["width"]) if line.get("width") is not None else None,
            model=line.get("model"),
            resize=check_resize(line["resize"]) if line.get("resize") else None,
            classes=tuple(ClassShare(c["id"], c["name"], c["fraction"]) for c in line.get("classes", ())),
            timings=Timings(t["preprocess"], t["invoke"], t["postprocess"]) if t else None,
            rle=tuple((int(i), c) for i, c in rle["counts"].items()) if rle else (),
        )


def read_summary(path: Path, out_dir: Path) -> dict[str, ImageRecord]:
    """The successful records of an earlier summary file by input path (unreadable lines are ignored).

    Bytes that are not UTF-8 (a damaged file) spoil only their own lines; those images are checked again
    from their mask files.

    Args:
        path: The summary file (a missing file gives no records).
        out_dir: The folder the summary's relative paths start from.
    """
    out: dict[str, ImageRecord] = {}
    if not path.is_file():
        return out
    for text in _read_text(path).splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and "path" in line and not line.get("error"):
            try:
                out[line["path"]] = ImageRecord.from_json(line, index=-1, status="skipped", out_dir=out_dir)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return out


def _read_text(path: Path) -> str:
    """A summary file's text; undecodable bytes become U+FFFD, so they spoil only the lines that hold them.

    Raises:
        OutputError: The file exists but cannot be read (e.g. no permission).
    """
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from exc


def write_summary(path: Path, records: Sequence[ImageRecord], out_dir: Path) -> None:
    """Write the JSON-lines summary atomically, and not at all when the content is unchanged (resume).

    Args:
        path: The summary file.
        records: Every record of the run, in input order.
        out_dir: The folder the written paths are relative to.
    """
    text = "".join(json.dumps(r.to_json(out_dir)) + "\n" for r in records)
    if path.is_file() and _read_text(path) == text:
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text, "utf-8")


@dataclass(frozen=True)
class BatchReport:
    """A finished run: every record in input order, where the summary went, and how fast it was."""

    records: tuple[ImageRecord, ...]
    out_dir: Path | None
    summary: Path | None
    engine: str  # "serial", "2 processes", "dask (2 workers)"
    elapsed_s: float

    @property
    def failures(self) -> tuple[ImageRecord, ...]:
        """The images that could not be segmented, with their errors."""
        return tuple(r for r in self.records if r.status == "failed")

    def count(self, status: BatchStatus) -> int:
        """How many records have this status ("ok", "skipped", "failed").

        Args:
            status: `"ok"`, `"skipped"` or `"failed"`.
        """
        return sum(r.status == status for r in self.records)

    @property
    def images_per_s(self) -> float:
        """Images segmented (not skipped) per second of wall time."""
        return self.count("ok") / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def describe(self) -> str:
        """One line: counts, engine and throughput."""
        return (
            f"{len(self.records)} images: {self.count('ok')} segmented, {self.count('skipped')} skipped, "
            f"{self.count('failed')} failed; {self.engine}, {self.elapsed_s:.1f} s ({self.images_per_s:.1f} images/s)"
        )


def load_result(record: ImageRecord, class_names: Sequence[str] | None = None) -> SegmentationResult:
    """The result a record's mask file holds (class ids and palette), read back without running the model.

    Class names default to those the record lists, so ids it does not list are named `class N`.

    Args:
        record: A record of a run that wrote masks.
        class_names: The model's class names (default: those the record lists).

    Raises:
        OptionsError: the record has no mask file (the run had no `out_dir`).
        ImageDecodeError: the mask file cannot be read or is not a palette PNG.
    """
    if record.mask is None:
        raise OptionsError(f"{record.source} has no mask file (run segment_many with an out_dir)")
    try:
        with Image.open(record.mask) as im:
            im.load()
    except OSError as exc:
        raise ImageDecodeError(f"mask {record.mask} could not be read: {exc}") from exc
    if im.mode != "P":
        raise ImageDecodeError(f"mask {record.mask} is a {im.mode} image, not a palette PNG of class ids")
    labels = np.array(im, np.uint8)
    labels.setflags(write=False)
    colormap = np.zeros((256, 3), np.uint8)
    palette = np.asarray(im.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    colormap[: len(palette)] = palette
    if class_names is None:
        known = {c.id: c.name for c in record.classes}
        top = max(known, default=0)
        class_names = [known.get(i, f"class {i}") for i in range(top + 1)]
    return SegmentationResult(
        labels=labels,
        class_names=tuple(class_names),
        colormap=colormap,
        timings=record.timings or Timings(0.0, 0.0, 0.0),
        model=record.model or "",
        options=RuntimeOptions(),
        resize=record.resize or "stretch",
    )
