"""A batch run: `segment_many` validates the arguments, picks an engine and returns a `BatchRun` to iterate.

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

from ...core.export import claim_folder
from ...core.images import DEFAULT_MAX_PIXELS
from ...core.model import ModelInput
from ...core.preprocess import ResizeMode
from ...core.runtime import RuntimeOptions, cpu_count
from ...core.segmenter import Segmenter
from ...errors import DependencyError, OptionsError
from .engines import SegmenterRecipe, _Dask, _Processes, _Serial, _Threads
from .inputs import Item, expand_inputs
from .jobs import Job, resumed
from .records import SUMMARY_NAME, BatchReport, ImageRecord, read_summary, write_summary

#: Interpreters the default in-process threads use: None gives each of the cores' threads its own 1-thread
#: interpreter (1 would share one interpreter with all cores as its threads): the faster of the two in
#: `benchmarks/batch_throughput.py` (benchmarks/RESULTS.md, "Batch").
DEFAULT_INTERPRETERS: int | None = None


class BatchRun:
    """An in-progress `segment_many` run: iterate it for records in input order; `report` once it is finished."""

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
        engine: Any = None
        try:
            pending: deque[Any] = deque()
            for index, item in enumerate(self.items):
                job = self._job(index, item)
                done = resumed(job, self.segmenter, previous) if self.resume else None
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
        if summary_path is not None and out_dir is not None:
            write_summary(summary_path, records, out_dir)
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
    interpreters: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    progress: bool = True,
    options: RuntimeOptions | None = None,
    resize: ResizeMode | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BatchRun:
    """Segment images, files and folders; iterate the returned run for `ImageRecord`s in input order.

    Writes `<name>_mask.png` (palette PNG), optionally `<name>_overlay.png`, and `summary_name` (JSON lines, one per
    input; None: no summary file) to `out_dir`. `rle=True` adds COCO RLE per class to the summary (`[coco]` extra).
    Where images run: by default in this process, in `cpu_count()` threads that overlap decoding and PNG
    encoding of some images with `invoke()` of others (`interpreters`: how many interpreters those threads
    use, default one per core; `threads`: interpreter threads each, default cores / interpreters). This
    needs no `if __name__ == "__main__":` guard. `workers=1` runs serially in the calling thread; `workers=N`
    (N > 1) asks for N worker processes ("spawn": the calling script needs the guard); a Dask `client` or
    `scheduler` address runs on a cluster (`threads` default 1 there). With Dask, the inputs and `out_dir` must
    be paths the workers can reach (any path works on a LocalCluster).
    `options`, `resize` and `max_pixels` build the Segmenter when a model (zoo id, path, bytes) is given.

    Raises:
        OptionsError: contradictory or out-of-range arguments (the message names the one to change).
        DependencyError: `rle=True` without pycocotools, or a Dask engine without Dask installed.
        OutputConflictError: two inputs would write the same output file.
    """
    if client is not None and scheduler is not None:
        raise OptionsError("give a Dask client or a scheduler address, not both")
    if workers is not None and workers < 1:
        raise OptionsError(f"workers must be at least 1, not {workers}")
    if interpreters is not None and not 1 <= interpreters <= cpu_count():
        raise OptionsError(
            f"interpreters must be between 1 and {cpu_count()} (this machine's cores), not {interpreters}"
        )
    if interpreters is not None and (workers is not None or client is not None or scheduler is not None):
        raise OptionsError("interpreters applies to the in-process default; leave out workers, client and scheduler")
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

    def engine() -> Any:
        if distributed:
            opts = replace(segmenter.options, num_threads=threads or 1)
            return _Dask(SegmenterRecipe.of(segmenter, opts), client, scheduler)
        if workers is None and len(items) > 1:
            cores = cpu_count()
            shared = interpreters or DEFAULT_INTERPRETERS or cores
            return _Threads(
                segmenter,
                workers=cores if shared == 1 else shared,
                interpreters=shared,
                threads=threads or max(1, cores // shared),
            )
        if workers is None or workers == 1:
            seg = (
                segmenter
                if threads is None
                else segmenter.with_options(replace(segmenter.options, num_threads=threads))
            )
            return _Serial(seg)
        opts = replace(segmenter.options, num_threads=threads or max(1, cpu_count() // workers))
        return _Processes(SegmenterRecipe.of(segmenter, opts), workers)

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
