"""A batch run: `segment_many` validates the arguments and returns a `BatchRun` to iterate on an engine.

Records come back in input order; per-image failures are recorded without stopping; `resume=True` skips
images whose outputs are valid and removes the temporary files a killed run left; every file is written
atomically, so an interrupted run leaves only complete files behind.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core.checks import check_file_name, check_flag, check_number, check_path
from ...core.export import check_output_folder, claim_folder
from ...core.images import ImageInput
from ...core.preprocess import ResizeMode
from ...core.runtime import RuntimeOptions
from ...core.segmenter import Segmenter, SegmenterInput, as_segmenter
from ...deprecation import deprecated, renamed_keywords
from ...errors import DependencyError, OptionsError
from .engines import Dask, Engine, Pending, Processes, Serial, Session, Threads
from .inputs import Item, expand_inputs
from .jobs import Job, resumed
from .records import SUMMARY_NAME, BatchReport, ImageRecord, read_summary, write_summary

#: The engine when none is given: a thread per core, each with its own 1-thread interpreter. It beat one
#: interpreter shared by the threads, and worker processes, in `benchmarks/batch_throughput.py`
#: (benchmarks/RESULTS.md, "Batch").
DEFAULT_ENGINE = Threads()


class BatchRun:
    """An in-progress `segment_many` run: iterate it for records in input order; `report` once it is finished.

    Args:
        items: The expanded inputs, in order (`expand_inputs`).
        segmenter: The segmenter every image runs on.
        out_dir: Where outputs go, or None for records only.
        overlay: Also write overlays.
        alpha: The overlays' mask opacity.
        resume: Skip images whose outputs are valid.
        rle: Add COCO RLE to the records and the summary.
        summary_name: The summary file's name in `out_dir`, or None.
        engine: Where the images run; started on the first image that needs segmenting.
        progress: Show a tqdm bar.
    """

    def __init__(
        self,
        items: list[Item],
        segmenter: Segmenter,
        out_dir: Path | None,
        *,
        overlay: bool,
        alpha: float,
        resume: bool,
        rle: bool,
        summary_name: str | None,
        engine: Engine,
        progress: bool,
    ) -> None:
        self.items, self.segmenter, self.out_dir = items, segmenter, out_dir
        self.overlay, self.alpha, self.resume, self.rle = overlay, alpha, resume, rle
        self.summary_name = summary_name
        self.engine, self.progress = engine, progress
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

    def _is_output_name(self, name: str) -> bool:
        """True for the file names this run writes (so their leftover temporary files are its own)."""
        return name.endswith(("_mask.png", "_overlay.png")) or name == self.summary_name

    def _job(self, index: int, item: Item) -> Job:
        mask = overlay = None
        if self.out_dir is not None:
            mask = self.out_dir / f"{item.name}_mask.png"
            overlay = self.out_dir / f"{item.name}_overlay.png" if self.overlay else None
        return Job(
            index=index,
            source=item.source,
            label=item.label,
            mask=mask,
            overlay=overlay,
            alpha=self.alpha,
            rle=self.rle,
        )

    def _run(self) -> Generator[ImageRecord, None, None]:
        out_dir = self.out_dir
        claim = claim_folder(out_dir, self._is_output_name) if out_dir is not None else nullcontext()
        with claim:  # another run into the same folder keeps its temporary files
            yield from self._run_claimed()

    def _run_claimed(self) -> Generator[ImageRecord, None, None]:
        start = time.perf_counter()
        out_dir = self.out_dir
        summary_path = out_dir / self.summary_name if out_dir is not None and self.summary_name else None
        previous: dict[str, ImageRecord] = {}
        if self.resume and summary_path is not None and out_dir is not None:
            previous = read_summary(summary_path, out_dir)
        records: list[ImageRecord] = []
        self._failed = 0
        from tqdm.auto import tqdm  # here, not at import: in a notebook it loads ipywidgets

        bar = tqdm(total=len(self.items), desc="segment", unit="img", disable=not self.progress)
        session: Session | None = None
        try:
            pending: deque[ImageRecord | Pending] = deque()
            for index, item in enumerate(self.items):
                job = self._job(index, item)
                done = resumed(job, self.segmenter, previous) if self.resume else None
                if done is None and session is None:
                    session = self.engine.start(self.segmenter, len(self.items) - index)
                if done is not None:
                    pending.append(done)
                else:
                    assert session is not None
                    pending.append(session.submit(job))
                while pending and (
                    len(pending) > (session.window if session else 0) or isinstance(pending[0], ImageRecord)
                ):
                    yield self._take(pending.popleft(), records, bar)
            while pending:
                yield self._take(pending.popleft(), records, bar)
        finally:
            bar.close()
            if session is not None:
                session.close()
        if summary_path is not None and out_dir is not None:
            write_summary(summary_path, records, out_dir)
        self.report = BatchReport(
            tuple(records),
            self.out_dir,
            summary_path,
            session.name if session is not None else "nothing to do",
            time.perf_counter() - start,
        )

    def _take(self, entry: ImageRecord | Pending, records: list[ImageRecord], bar: Any) -> ImageRecord:
        """The record of the oldest pending image (waiting for it if need be), counted and shown on the bar."""
        record = entry if isinstance(entry, ImageRecord) else entry.result()
        records.append(record)
        self._failed += record.status == "failed"
        bar.update(1)
        bar.set_postfix(failed=self._failed, refresh=False)
        return record


@renamed_keywords(segmenter_or_model="model")
def segment_many(
    inputs: str | os.PathLike | Iterable[str | os.PathLike | ImageInput],
    model: SegmenterInput = "deeplabv3-starter",
    out_dir: str | os.PathLike | None = None,
    *,
    engine: Engine | None = None,
    overlay: bool = False,
    alpha: float = 0.5,
    resume: bool = False,
    rle: bool = False,
    summary_name: str | None = SUMMARY_NAME,
    progress: bool = True,
    options: RuntimeOptions | None = None,
    resize: ResizeMode | None = None,
    max_pixels: int | None = None,
    **deprecated_engine: Any,
) -> BatchRun:
    """Segment images, files and folders; iterate the returned run for `ImageRecord`s in input order.

    The run is lazy: nothing is segmented until it is iterated (`for record in run`) or run (`run.run()`).
    Writes `<name>_mask.png` (palette PNG), optionally `<name>_overlay.png`, and `summary_name` (JSON lines,
    one per input) to `out_dir`. Per-image failures become "failed" records; the run goes on.

    Args:
        inputs: A file or folder path (folders are walked recursively for image files), or an iterable of
            paths and in-memory images (PIL images, arrays, bytes).
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        out_dir: Where masks, overlays and the summary go (None: nothing is written, records only).
        engine: Where the images run: `Threads()` (the default: a thread per core, each with its own 1-thread
            interpreter; no `if __name__ == "__main__":` guard needed), `Serial()`, `Processes(n)` (the
            calling script needs the guard) or `Dask(client_or_scheduler)`.
        overlay: Also write `<name>_overlay.png`, the mask blended over the photo (needs `out_dir`).
        alpha: Opacity of the mask in the overlay, 0 to 1.
        resume: Skip images whose outputs in `out_dir` are complete and come from this model and resize mode.
        rle: Add COCO run-length encodings per class to the summary (the `[coco]` extra).
        summary_name: The summary file's name in `out_dir` (None: no summary file).
        progress: Show a tqdm progress bar.
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        max_pixels: Refuse larger images (a failed record; default: the segmenter's, or 64 MP).
        **deprecated_engine: The keywords `workers`, `threads`, `interpreters`, `client` and `scheduler` of the
            previous release, translated into an `engine` with a `DeprecationWarning`.

    Returns:
        The lazy run: iterate it, or call `run()` for the `BatchReport`.

    Raises:
        OptionsError: An argument of the wrong type, out of range, or contradicting another (the message names
            the one to change); a `summary_name` that is not a plain file name.
        OutputError: `out_dir` is a file, or lies in a folder that cannot be written.
        DependencyError: `rle=True` without pycocotools; a `Dask` engine without Dask (when the run starts).
        OutputConflictError: Two inputs would write the same output file.
        ModelNotFoundError, ModelFormatError: As `as_segmenter`.
    """
    alpha = check_number("alpha", alpha, minimum=0.0, maximum=1.0)
    overlay, resume = check_flag("overlay", overlay), check_flag("resume", resume)
    rle, progress = check_flag("rle", rle), check_flag("progress", progress)
    if summary_name is not None:
        check_file_name("summary_name", summary_name)
    out = check_output_folder(check_path("out_dir", out_dir)) if out_dir is not None else None
    if resume and out_dir is None:
        raise OptionsError("resume needs an out_dir to look for earlier outputs in")
    if overlay and out_dir is None:
        raise OptionsError("overlay images need an out_dir to be written to")
    if rle:
        try:
            import pycocotools.mask  # noqa: F401
        except ImportError as exc:
            raise DependencyError(f"rle=True needs pycocotools ({exc}); pip install 'deeplab-widgets[coco]'") from None
    unknown = [k for k in deprecated_engine if k not in DEPRECATED_ENGINE_KEYWORDS]
    if unknown:
        raise TypeError(f"segment_many() got an unexpected keyword argument {unknown[0]!r}")
    segmenter = as_segmenter(model, options, resize=resize, max_pixels=max_pixels)
    if deprecated_engine:
        if engine is not None:
            raise OptionsError(f"give engine= or the deprecated {', '.join(deprecated_engine)}, not both")
        engine, segmenter = _engine_from_deprecated(segmenter, **deprecated_engine)
    if engine is not None and not isinstance(engine, Engine):
        raise OptionsError(f"engine must be Serial(), Threads(), Processes(n) or Dask(client), not {engine!r}")
    items = expand_inputs(inputs, exclude=out)
    return BatchRun(
        items,
        segmenter,
        out,
        overlay=overlay,
        alpha=alpha,
        resume=resume,
        rle=rle,
        summary_name=summary_name,
        engine=engine or DEFAULT_ENGINE,
        progress=progress,
    )


#: The engine keywords of the previous release.
DEPRECATED_ENGINE_KEYWORDS = ("workers", "threads", "interpreters", "client", "scheduler")


def _engine_from_deprecated(
    segmenter: Segmenter,
    *,
    workers: int | None = None,
    threads: int | None = None,
    interpreters: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
) -> tuple[Engine, Segmenter]:
    """The engine (and segmenter) the previous release's engine keywords asked for, with a warning."""
    values = (workers, threads, interpreters, client, scheduler)
    given = [k for k, v in zip(DEPRECATED_ENGINE_KEYWORDS, values, strict=True) if v is not None]
    deprecated(
        f"segment_many({', '.join(f'{k}=' for k in given)})",
        "pass engine=Serial(), Threads(n), Processes(n) or Dask(client_or_scheduler)",
        stacklevel=5,  # this function, segment_many, its keyword-renaming wrapper, the caller
    )
    if client is not None and scheduler is not None:
        raise OptionsError("give a Dask client or a scheduler address, not both")
    if client is not None:
        return Dask(client, interpreter_threads=threads or 1), segmenter
    if scheduler is not None:
        return Dask(scheduler, interpreter_threads=threads or 1), segmenter
    if workers is not None and workers < 1:
        raise OptionsError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        if threads is not None:
            segmenter = segmenter.with_options(replace(segmenter.options, num_threads=threads))
        return Serial(), segmenter
    if workers is not None:
        return Processes(workers, interpreter_threads=threads), segmenter
    if interpreters == 1:
        return Threads(shared=True, interpreter_threads=threads), segmenter
    return Threads(interpreters, interpreter_threads=threads), segmenter
