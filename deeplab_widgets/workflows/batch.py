"""Segmenting many images: folders in, masks and a JSON-lines summary out, serially, in processes or on Dask.

`segment_many` walks paths and folders (or takes in-memory images), yields one `ImageRecord` per input in
input order, records per-image failures without stopping, resumes by skipping valid outputs, and writes every
file atomically, so an interrupted run leaves only complete files behind. The same per-image function runs
in this process, in a pool of worker processes (one interpreter each, built in the worker initialiser) or
on a Dask cluster (one cached interpreter per worker process).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from ..core.export import atomic_path, mask_image, save_image, summary
from ..core.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, load_image
from ..core.model import ModelInput
from ..core.runtime import RuntimeOptions, cpu_count
from ..core.segmenter import ClassShare, SegmentationResult, Segmenter, Timings
from ..errors import DeeplabWidgetsError, DependencyError, ImageDecodeError, OptionsError, OutputConflictError

#: The run's summary file in `out_dir`: one JSON object per input image, in input order.
SUMMARY_NAME = "summary.jsonl"
#: PNG text keys that tie a mask to the model and resize mode that made it (checked on resume).
MODEL_KEY, RESIZE_KEY = "deeplab_widgets.model_sha256", "deeplab_widgets.resize"
#: From this many images on, one process per core (1 interpreter thread each) beats one process with all cores as
#: interpreter threads; below it, starting the workers (~1 s, ~1.8 CPU-s on 2 cores) costs more than it saves
#: (benchmarks/batch_throughput.py, README "Batch segmentation").
MIN_IMAGES_FOR_PROCESSES = 100


@dataclass(frozen=True)
class ImageRecord:
    """What happened to one input: `status` is "ok", "skipped" (resume: valid outputs existed) or "failed"."""

    index: int
    source: str  # the path, or "<image N>" for an in-memory image
    status: str
    mask: Path | None = None
    overlay: Path | None = None
    size: tuple[int, int] | None = None  # (width, height)
    model: str | None = None
    resize: str | None = None
    classes: tuple[ClassShare, ...] = ()
    timings: Timings | None = None
    error: str | None = None  # the error message when failed
    error_type: str | None = None  # its exception class name, e.g. "ImageDecodeError"
    rle: tuple[tuple[int, str], ...] = field(default=(), repr=False)  # COCO RLE counts per class id

    @property
    def ok(self) -> bool:
        """True when the image has a mask (made now or kept from an earlier run)."""
        return self.status != "failed"

    def to_json(self, out_dir: Path | None = None) -> dict[str, Any]:
        """The summary-file line: path, size, classes with shares, timings (output paths relative to `out_dir`)."""

        def rel(p: Path | None) -> str | None:
            return None if p is None else (p.relative_to(out_dir).as_posix() if out_dir else str(p))

        line: dict[str, Any] = {"path": self.source, "status": "failed" if self.status == "failed" else "ok"}
        if self.error is not None:
            line.update(error=self.error, error_type=self.error_type)
            return line
        line.update(mask=rel(self.mask), overlay=rel(self.overlay), model=self.model)
        line.update(width=self.size[0] if self.size else None, height=self.size[1] if self.size else None)
        line.update(resize=self.resize)
        line["classes"] = [{"id": c.id, "name": c.name, "fraction": c.fraction} for c in self.classes]
        if self.timings is not None:
            t = self.timings
            line["timings_ms"] = {"preprocess": t.preprocess_ms, "invoke": t.invoke_ms, "postprocess": t.postprocess_ms}
        if self.rle:
            line["rle"] = {"size": [self.size[1], self.size[0]], "counts": {str(i): c for i, c in self.rle}}
        return line

    @classmethod
    def from_json(cls, line: dict[str, Any], index: int, status: str, out_dir: Path | None = None) -> ImageRecord:
        """Rebuild a record from a summary line (the inverse of `to_json`)."""

        def path(p: str | None) -> Path | None:
            return None if p is None else (out_dir / p if out_dir else Path(p))

        if line.get("error") is not None:
            return cls(index, line["path"], "failed", error=line["error"], error_type=line.get("error_type"))
        t = line.get("timings_ms")
        rle = line.get("rle")
        return cls(
            index=index,
            source=line["path"],
            status=status,
            mask=path(line.get("mask")),
            overlay=path(line.get("overlay")),
            size=(line["width"], line["height"]) if line.get("width") is not None else None,
            model=line.get("model"),
            resize=line.get("resize"),
            classes=tuple(ClassShare(c["id"], c["name"], c["fraction"]) for c in line.get("classes", ())),
            timings=Timings(t["preprocess"], t["invoke"], t["postprocess"]) if t else None,
            rle=tuple((int(i), c) for i, c in rle["counts"].items()) if rle else (),
        )


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

    def count(self, status: str) -> int:
        """How many records have this status ("ok", "skipped", "failed")."""
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


@dataclass(frozen=True)
class SegmenterRecipe:
    """How a worker rebuilds the segmenter (a Segmenter holds an interpreter, which cannot be pickled)."""

    digest: str
    model: str | bytes = field(compare=False, repr=False)  # zoo id, or the model's bytes
    labels: tuple[str, ...] | None
    options: RuntimeOptions
    resize: str
    max_pixels: int

    @classmethod
    def of(cls, segmenter: Segmenter, options: RuntimeOptions | None = None) -> SegmenterRecipe:
        """The recipe for `segmenter` (a zoo model travels by id, any other model by its bytes)."""
        spec = segmenter.spec
        zoo_id = spec.zoo.name if spec.zoo is not None else None
        return cls(
            digest=spec.digest,
            model=zoo_id or spec.content,
            labels=spec.class_names,
            options=options or segmenter.options,
            resize=segmenter.resize,
            max_pixels=segmenter.max_pixels,
        )

    def build(self) -> Segmenter:
        """A Segmenter for this recipe (in the calling process)."""
        return Segmenter(self.model, self.options, labels=self.labels, resize=self.resize, max_pixels=self.max_pixels)


@dataclass(frozen=True)
class _Job:
    index: int
    source: Any  # a path string or an in-memory image
    label: str
    mask: Path | None
    overlay: Path | None
    alpha: float
    rle: bool


# One Segmenter per recipe per process: the worker initialiser or the first Dask task fills it.
_WORKER_SEGMENTERS: dict[SegmenterRecipe, Segmenter] = {}
_WORKER_LOCK = threading.Lock()


def worker_segmenter(recipe: SegmenterRecipe) -> Segmenter:
    """This process's cached Segmenter for `recipe`, built on first use."""
    with _WORKER_LOCK:
        seg = _WORKER_SEGMENTERS.get(recipe)
        if seg is None:
            seg = _WORKER_SEGMENTERS[recipe] = recipe.build()
        return seg


def _init_worker(recipe: SegmenterRecipe) -> None:
    worker_segmenter(recipe)


def _pool_task(recipe: SegmenterRecipe, job: _Job) -> ImageRecord:
    return run_job(worker_segmenter(recipe), job)


def run_job(segmenter: Segmenter, job: _Job) -> ImageRecord:
    """Segment one image and write its outputs; this package's own errors become a failed record."""
    try:
        image = load_image(job.source, max_pixels=segmenter.max_pixels)
        result = segmenter.segment(image)
    except DeeplabWidgetsError as exc:
        return ImageRecord(job.index, job.label, "failed", error=str(exc), error_type=type(exc).__name__)
    if job.mask is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(MODEL_KEY, segmenter.spec.digest)
        info.add_text(RESIZE_KEY, segmenter.resize)
        save_image(mask_image(result.labels, result.colormap), job.mask, pnginfo=info)
    if job.overlay is not None:
        save_image(_overlay(image, result, job.alpha), job.overlay)
    line = {"path": job.label, "status": "ok", "mask": _str(job.mask), "overlay": _str(job.overlay), **summary(result)}
    if job.rle:
        line["rle"] = {"size": list(result.labels.shape), "counts": coco_rle(result.labels)}
    return ImageRecord.from_json(line, job.index, "ok")


def _overlay(image: Image.Image, result: Any, alpha: float) -> Image.Image:
    """The overlay picture. `viz` sits above the core, so it is imported here, only when overlays are asked for."""
    from ..viz.masks import overlay

    return Image.fromarray(overlay(image, result, alpha))


def coco_rle(labels: np.ndarray) -> dict[str, str]:
    """COCO run-length encoding (pycocotools) of each class present: {class id: counts string}."""
    from pycocotools import mask as coco

    ids = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    return {str(i): coco.encode(np.asfortranarray(labels == i, dtype=np.uint8))["counts"].decode("ascii") for i in ids}


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


# -- inputs and output names -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    source: Any
    label: str
    name: str  # output name without suffix, relative to out_dir ("sub/cat")


def expand_inputs(inputs: Any, exclude: Path | None = None) -> list[_Item]:
    """Paths, folders (recursive, image extensions, hidden files skipped) or images -> items with output names.

    A file is named by its stem; a folder's images keep their path relative to that folder, so same-named files
    in different subfolders never collide. Same stem, different extension: the extension joins the name.
    A file reached twice (listed and inside a listed folder) is segmented once.
    """
    if isinstance(inputs, (str, os.PathLike, Image.Image, np.ndarray, bytes, bytearray)):
        inputs = [inputs]
    items: list[_Item] = []
    seen: set[Path] = set()
    excluded = exclude.resolve() if exclude is not None else None
    for k, item in enumerate(inputs):
        if not isinstance(item, (str, os.PathLike)):
            items.append(_Item(item, f"<image {k}>", f"image_{k:05d}"))
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
            items.append(_Item(str(p), str(p), rel.with_suffix("").as_posix()))
    return _disambiguate(items)


def _disambiguate(items: list[_Item]) -> list[_Item]:
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


# -- resume ---------------------------------------------------------------------------------------------------


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


def _resumed(job: _Job, segmenter: Segmenter, previous: dict[str, dict]) -> ImageRecord | None:
    """A "skipped" record when the job's outputs exist, are complete and come from this model, else None."""
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
    overlay = job.overlay.as_posix() if job.overlay is not None else None
    same_outputs = old is not None and old.get("mask") == job.mask.as_posix() and old.get("overlay") == overlay
    if same_outputs and (not job.rle or "rle" in old):
        return ImageRecord.from_json(old, job.index, "skipped")
    labels = np.asarray(mask)
    counts = np.bincount(labels.ravel(), minlength=256)
    names = segmenter.class_names
    shares = [
        ClassShare(int(i), names[i] if i < len(names) else f"class {i}", round(float(counts[i] / labels.size), 6))
        for i in np.flatnonzero(counts)
    ]
    classes = tuple(sorted(shares, key=lambda c: (-c.fraction, c.id)))
    rle = tuple((int(i), c) for i, c in coco_rle(labels).items()) if job.rle else ()
    return ImageRecord(
        job.index,
        job.label,
        "skipped",
        job.mask,
        job.overlay,
        mask.size,
        segmenter.spec.name,
        segmenter.resize,
        classes,
        None,
        None,
        rle,
    )


def _read_summary(path: Path, out_dir: Path) -> dict[str, dict]:
    """Earlier summary lines by input path, with output paths made absolute-or-as-given again."""
    out: dict[str, dict] = {}
    if not path.is_file():
        return out
    for text in path.read_text("utf-8").splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and "path" in line and not line.get("error"):
            for key in ("mask", "overlay"):
                if line.get(key) is not None:
                    line[key] = (out_dir / line[key]).as_posix()
            out[line["path"]] = line
    return out


# -- engines ------------------------------------------------------------------------------------------------


class _Serial:
    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter, self.window, self.name = segmenter, 1, "serial"

    def submit(self, job: _Job) -> _Job:
        return job

    def result(self, handle: _Job) -> ImageRecord:
        return run_job(self.segmenter, handle)

    def close(self) -> None:
        pass


class _Processes:
    def __init__(self, recipe: SegmenterRecipe, workers: int) -> None:
        self.recipe, self.window, self.name = recipe, 4 * workers, f"{workers} processes"
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(recipe,),
        )

    def submit(self, job: _Job) -> Future:
        return self.pool.submit(_pool_task, self.recipe, job)

    def result(self, handle: Future) -> ImageRecord:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    def __init__(self, recipe: SegmenterRecipe, client: Any, scheduler: str | None) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise DependencyError(f"Dask is not installed ({exc}); pip install 'deeplab-widgets[dask]'") from None
        self.owns = client is None
        self.client = Client(scheduler) if client is None else client
        workers = max(1, sum(self.client.nthreads().values()))
        self.window, self.name = 4 * workers, f"dask ({len(self.client.nthreads())} workers)"
        self.recipe = self.client.scatter(recipe, broadcast=True, hash=False)
        self.futures: list[Any] = []

    def submit(self, job: _Job) -> Any:
        future = self.client.submit(_pool_task, self.recipe, job, pure=False)
        self.futures.append(future)
        return future

    def result(self, handle: Any) -> ImageRecord:
        return handle.result()

    def close(self) -> None:
        pending = [f for f in self.futures if not f.done()]
        if pending:
            self.client.cancel(pending)
        if self.owns:
            self.client.close()


# -- the run --------------------------------------------------------------------------------------------------


class BatchRun:
    """An in-progress `segment_many` run: iterate it for records in input order; `report` once it is finished."""

    def __init__(
        self,
        items: list[_Item],
        segmenter: Segmenter,
        out_dir: Path | None,
        *,
        overlay: bool,
        alpha: float,
        resume: bool,
        rle: bool,
        summary_name: str | None,
        engine: Any,
        progress: bool,
    ) -> None:
        self.items, self.segmenter, self.out_dir = items, segmenter, out_dir
        self.overlay, self.alpha, self.resume, self.rle = overlay, alpha, resume, rle
        self.summary_name = summary_name
        self._engine_factory, self.progress = engine, progress
        self.report: BatchReport | None = None
        self._failed = 0
        self._gen = self._run()

    def __iter__(self) -> Iterator[ImageRecord]:
        return self

    def __next__(self) -> ImageRecord:
        return next(self._gen)

    def __len__(self) -> int:
        return len(self.items)

    def __enter__(self) -> BatchRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early: running images finish their (atomic) writes, queued ones are dropped, no summary is written."""
        self._gen.close()

    def run(self) -> BatchReport:
        """Process everything that is left and return the report."""
        for _ in self:
            pass
        assert self.report is not None
        return self.report

    def _job(self, index: int, item: _Item) -> _Job:
        mask = overlay = None
        if self.out_dir is not None:
            mask = self.out_dir / f"{item.name}_mask.png"
            overlay = self.out_dir / f"{item.name}_overlay.png" if self.overlay else None
        return _Job(index, item.source, item.label, mask, overlay, self.alpha, self.rle)

    def _run(self) -> Iterator[ImageRecord]:
        start = time.perf_counter()
        named = self.out_dir is not None and self.summary_name
        summary_path = self.out_dir / self.summary_name if named else None
        previous = _read_summary(summary_path, self.out_dir) if self.resume and summary_path else {}
        records: list[ImageRecord] = []
        self._failed = 0
        from tqdm.auto import tqdm  # here, not at import: in a notebook it loads ipywidgets

        bar = tqdm(total=len(self.items), desc="segment", unit="img", disable=not self.progress)
        engine = None
        try:
            pending: deque[Any] = deque()
            for index, item in enumerate(self.items):
                job = self._job(index, item)
                done = _resumed(job, self.segmenter, previous) if self.resume else None
                if done is None and engine is None:
                    engine = self._engine_factory()
                pending.append(done if done is not None else engine.submit(job))
                while pending and (
                    len(pending) > (engine.window if engine else 0) or isinstance(pending[0], ImageRecord)
                ):
                    yield self._take(pending.popleft(), engine, records, bar)
            while pending:
                yield self._take(pending.popleft(), engine, records, bar)
        finally:
            bar.close()
            if engine is not None:
                engine.close()
        if summary_path is not None:
            _write_summary(summary_path, records, self.out_dir)
        self.report = BatchReport(
            tuple(records),
            self.out_dir,
            summary_path,
            engine.name if engine is not None else "nothing to do",
            time.perf_counter() - start,
        )

    def _take(self, entry: Any, engine: Any, records: list[ImageRecord], bar: Any) -> ImageRecord:
        """The record of the oldest pending image (waiting for it if need be), counted and shown on the bar."""
        record = entry if isinstance(entry, ImageRecord) else engine.result(entry)
        records.append(record)
        self._failed += record.status == "failed"
        bar.update(1)
        bar.set_postfix(failed=self._failed, refresh=False)
        return record


def load_result(record: ImageRecord, class_names: Sequence[str] | None = None) -> SegmentationResult:
    """The result a record's mask file holds (class ids and palette), read back without running the model.

    Class names default to those the record lists, so ids it does not list are named `class N`.
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


def _write_summary(path: Path, records: Sequence[ImageRecord], out_dir: Path) -> None:
    """Write the JSON-lines summary atomically, and not at all when the content is unchanged (resume)."""
    text = "".join(json.dumps(r.to_json(out_dir)) + "\n" for r in records)
    if path.is_file() and path.read_text("utf-8") == text:
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text, "utf-8")


def default_workers(n_images: int) -> int:
    """Worker processes to use by default: the cores for a big batch, none (serial) for a small one."""
    return cpu_count() if n_images >= MIN_IMAGES_FOR_PROCESSES else 1


def segment_many(
    inputs: str | os.PathLike | Iterable[Any],
    segmenter_or_model: Segmenter | ModelInput = "deeplabv3-starter",
    out_dir: str | os.PathLike | None = None,
    *,
    overlay: bool = False,
    alpha: float = 0.5,
    resume: bool = False,
    rle: bool = False,
    summary_name: str | None = SUMMARY_NAME,
    workers: int | None = None,
    threads: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    progress: bool = True,
    options: RuntimeOptions | None = None,
    resize: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BatchRun:
    """Segment images, files and folders; iterate the returned run for `ImageRecord`s in input order.

    Writes `<name>_mask.png` (palette PNG), optionally `<name>_overlay.png`, and `summary_name` (JSON lines, one per
    input; None: no summary file) to `out_dir`. `rle=True` adds COCO RLE per class to the summary (`[coco]` extra).
    `workers` processes (default: serial for small batches, one per core otherwise) or a Dask `client` /
    `scheduler` address; `threads` is the interpreter threads per worker (default: cores / workers, 1 on Dask).
    With Dask, the inputs and `out_dir` must be paths the workers can reach (any path works on a LocalCluster).
    `options`, `resize` and `max_pixels` build the Segmenter when a model (zoo id, path, bytes) is given.
    """
    if client is not None and scheduler is not None:
        raise OptionsError("give a Dask client or a scheduler address, not both")
    if workers is not None and workers < 1:
        raise OptionsError(f"workers must be at least 1, not {workers}")
    if threads is not None and not 1 <= threads <= cpu_count():
        raise OptionsError(f"threads must be between 1 and {cpu_count()} (this machine's cores), not {threads}")
    if not 0.0 <= alpha <= 1.0:
        raise OptionsError(f"alpha must be between 0 and 1, not {alpha}")
    if resume and out_dir is None:
        raise OptionsError("resume needs an out_dir to look for earlier outputs in")
    if overlay and out_dir is None:
        raise OptionsError("overlay images need an out_dir to be written to")
    if rle:
        try:
            import pycocotools.mask  # noqa: F401
        except ImportError as exc:
            raise DependencyError(f"rle=True needs pycocotools ({exc}); pip install 'deeplab-widgets[coco]'") from None
    if isinstance(segmenter_or_model, Segmenter):
        if options is not None or resize is not None:
            raise OptionsError("options and resize apply to a model; for a Segmenter use segmenter.with_options(...)")
        segmenter = segmenter_or_model
    else:
        segmenter = Segmenter(segmenter_or_model, options, resize=resize, max_pixels=max_pixels)
    out = Path(out_dir) if out_dir is not None else None
    items = expand_inputs(inputs, exclude=out)
    distributed = client is not None or scheduler is not None
    n_workers = workers or (1 if distributed else default_workers(len(items)))

    def engine() -> Any:
        if distributed:
            opts = replace(segmenter.options, num_threads=threads or 1)
            return _Dask(SegmenterRecipe.of(segmenter, opts), client, scheduler)
        if n_workers == 1:
            seg = (
                segmenter
                if threads is None
                else segmenter.with_options(replace(segmenter.options, num_threads=threads))
            )
            return _Serial(seg)
        opts = replace(segmenter.options, num_threads=threads or max(1, cpu_count() // n_workers))
        return _Processes(SegmenterRecipe.of(segmenter, opts), n_workers)

    return BatchRun(
        items,
        segmenter,
        out,
        overlay=overlay,
        alpha=alpha,
        resume=resume,
        rle=rle,
        summary_name=summary_name,
        engine=engine,
        progress=progress,
    )
