"""The model report for engineers: every model and quantized variant in one table, measured in one run.

One row per model: file size; bare `invoke()` and whole-pipeline (`segment()` on a real photo) medians at each
thread count, all timed round-robin in one `time_interleaved` run so every row sees the same machine; mIoU and
pixel accuracy on the labelled data of the model's label set, where there is some; class-map agreement with the
float model a variant was made from; and peak memory, measured in a fresh process (`bench.memory`).

`model_report()` measures every zoo model and the quantized variants of its float ones; `measure_models()`
measures any list of `Candidate`s (the quantization report and the Workbench's Quantize tab use it).
The table exports as Markdown, CSV and HTML.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..assets.samples import list_samples
from ..assets.zoo import list_models, model_info
from ..core.export import atomic_path
from ..core.images import ImageInput
from ..core.runtime import RuntimeOptions, cpu_count
from ..core.segmenter import Segmenter
from ..core.tables import markdown_table
from ..errors import OptionsError
from .bench import int8_dot_product, machine_description
from .bench.memory import peak_memory
from .evaluate import evaluate
from .interleaved import InterleavedTiming, Task, invoke_task, time_interleaved
from .labelled import labelled_for
from .quantize import DEFAULT_COUNT, RECIPES, check_recipe, quantize, stage_reporter
from .samples import resolve_image

#: The thread counts of the report: 1 (with XNNPACK, the phone-like default) and 2.
DEFAULT_THREADS = (1, 2)
#: Round-robin rounds per timing (each task runs once per round).
DEFAULT_ROUNDS = 10
#: The real photo the pipeline is timed on.
DEFAULT_PHOTO = "cat"
#: Progress callback: (stage, done, total); stages are "timing", "scoring", "memory".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Candidate:
    """A model to measure, and what to compare it with.

    Attributes:
        name: Its row label (unique in a report).
        segmenter: The model and resize mode (its runtime options are not used: the report sets threads).
        model: The model it is, or was derived from (zoo id or file name).
        variant: "as published", "float", or a quantization recipe.
        reference: The name of the candidate its class maps are compared with (its float source), or None.
        excluded: Photo file names not to count for agreement (the ones it was calibrated on).
    """

    name: str
    segmenter: Segmenter
    model: str
    variant: str = "as published"
    reference: str | None = None
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRow:
    """One measured model (times in ms, sizes in bytes, memory in MiB; None where not measured)."""

    name: str
    model: str
    variant: str
    label_set: str
    size_bytes: int
    invoke_ms: MappingProxyType  # threads -> median ms of bare invoke()
    pipeline_ms: MappingProxyType  # threads -> median ms of segment() on the photo
    miou: float | None = None
    pixel_accuracy: float | None = None
    dataset: str | None = None  # e.g. "voc, 15 images"
    agreement: float | None = None  # median share of pixels whose class matches the reference's
    reference: str | None = None
    agreement_photos: int = 0
    peak_mb: float | None = None  # what the model adds to a fresh process's peak memory

    def record(self, threads: Sequence[int]) -> dict[str, Any]:
        """A flat dict for CSV and JSON."""
        out: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "variant": self.variant,
            "label_set": self.label_set,
            "size_mb": self.size_bytes / 1e6,
        }
        for t in threads:
            out[f"invoke_ms_{t}t"] = self.invoke_ms.get(t)
        for t in threads:
            out[f"segment_ms_{t}t"] = self.pipeline_ms.get(t)
        out |= {
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "dataset": self.dataset,
            "agreement": self.agreement,
            "reference": self.reference,
            "peak_mb": self.peak_mb,
        }
        return out


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


@dataclass(frozen=True)
class ModelReport:
    """Rows measured in one run, the round-robin timing behind them, and where and when it ran."""

    rows: tuple[ModelRow, ...]
    timing: InterleavedTiming | None = field(repr=False)
    threads: tuple[int, ...]
    photo: str
    machine: str
    date: str
    dot_product: tuple[str, ...] | None = None  # the CPU's 8-bit dot-product instructions (`int8_dot_product`)

    def row(self, name: str) -> ModelRow:
        """One row by name; `OptionsError` lists the names."""
        for r in self.rows:
            if r.name == name:
                return r
        raise OptionsError(f"no row named {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def _grid(self, pipeline: bool) -> tuple[list[str], list[list[str]]]:
        """Column titles and rows as strings; measured columns with no value in any row are left out."""
        ms = [f"invoke ms, {t} thread{'s' * (t > 1)}" for t in self.threads]
        seg = [f"segment() ms, {t} thread{'s' * (t > 1)}" for t in self.threads] if pipeline else []
        header = ["model", "variant", "size MB", *ms, *seg, "mIoU", "pixel acc.", "agreement", "peak RAM MB"]
        rows = []
        for r in self.rows:
            rows.append(
                [
                    r.model,
                    r.variant,
                    f"{r.size_bytes / 1e6:.2f}",
                    *(_cell(r.invoke_ms.get(t), ".1f") for t in self.threads),
                    *((_cell(r.pipeline_ms.get(t), ".1f") for t in self.threads) if pipeline else ()),
                    _cell(r.miou, ".3f"),
                    _cell(r.pixel_accuracy, ".3f"),
                    _cell(r.agreement, ".1%"),
                    _cell(r.peak_mb, ".0f"),
                ]
            )
        keep = [i for i in range(len(header)) if i < 3 or any(row[i] != "—" for row in rows)]
        return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]

    def columns(self, *, pipeline: bool = True) -> list[str]:
        """The table's column titles (measured columns with no value in any row are left out)."""
        return self._grid(pipeline)[0]

    def cells(self, *, pipeline: bool = True) -> list[list[str]]:
        """The table's rows as strings, in the order of `columns()`."""
        return self._grid(pipeline)[1]

    def notes(self, *, pipeline: bool = True) -> str:
        """What the columns measure, the datasets and the machine, in a few sentences."""
        datasets = sorted({r.dataset for r in self.rows if r.dataset})
        load = f"; {self.timing.load_line()}" if self.timing else ""
        parts = [f"Measured {self.date} on {self.machine}{load}.", "Times: medians of round-robin runs (XNNPACK on)"]
        parts[-1] += f"; segment() includes decoding {self.photo}." if pipeline else "."
        if datasets:
            parts.append(f"mIoU and pixel accuracy on {'; '.join(datasets)} (a sanity check, not a benchmark).")
        if any(r.agreement is not None for r in self.rows):
            parts.append(
                "Agreement: median share of pixels whose class matches the float model's, on photos the variant "
                "was not calibrated on."
            )
        if any(r.peak_mb is not None for r in self.rows):
            parts.append("Peak RAM: what loading and running the model adds to a fresh process (1 thread).")
        if self.dot_product == () and any(r.variant == "int8" for r in self.rows):
            parts.append(
                "This CPU has no 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM's sdot): its int8 "
                "kernels do about as much work per cycle as its float ones, so int8 runs at about float speed here."
            )
        return " ".join(parts)

    def table(self, *, pipeline: bool = True) -> str:
        """A Markdown table of every row, followed by `notes()`."""
        header, rows = self._grid(pipeline)
        return markdown_table(header, rows) + "\n\n" + self.notes(pipeline=pipeline)

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per row (the CSV's rows)."""
        return [r.record(self.threads) for r in self.rows]

    def to_csv(self) -> str:
        """The rows as CSV text (one header line)."""
        buffer = io.StringIO()
        records = self.records()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()

    def to_html(self, *, pipeline: bool = True) -> str:
        """A standalone HTML table (escaped, numbers right-aligned), with the notes as its caption below it."""
        header, rows = self._grid(pipeline)
        pad = "padding:2px 8px"

        def cell(tag: str, i: int, text: str) -> str:
            align = "left" if i < 2 else "right"
            return f"<{tag} style='{pad};text-align:{align}'>{html.escape(text)}</{tag}>"

        head = "".join(cell("th", i, c) for i, c in enumerate(header))
        body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
        caption = html.escape(self.notes(pipeline=pipeline))
        return (
            '<table class="dlw-model-report" style="border-collapse:collapse;font-variant-numeric:tabular-nums">'
            f"<caption style='caption-side:bottom;text-align:left;color:#555;{pad}'>{caption}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table atomically as CSV (`.csv`), HTML (`.html`) or Markdown (anything else)."""
        target = Path(path)
        suffix = target.suffix.lower()
        text = self.to_csv() if suffix == ".csv" else self.to_html() if suffix in (".html", ".htm") else self.table()
        with atomic_path(target) as tmp:
            tmp.write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        return target


def _counted(task: Task, tick: Callable[[], None]) -> Task:
    def run() -> Any:
        out = task()
        tick()
        return out

    return run


def measure_models(
    candidates: Sequence[Candidate],
    *,
    threads: Sequence[int] = DEFAULT_THREADS,
    rounds: int = DEFAULT_ROUNDS,
    photo: ImageInput = DEFAULT_PHOTO,
    pipeline: bool = True,
    score: bool = True,
    memory: bool = True,
    agreement_photos: Sequence[ImageInput] | None = None,
    progress: Progress | None = None,
) -> ModelReport:
    """Measure candidates in one run: interleaved timing, scores on labelled data, agreement, peak memory.

    Args:
        candidates: The models, with unique names.
        threads: Thread counts to time at (those above this machine's cores are skipped).
        rounds: Round-robin rounds (at least 3).
        photo: The real photo `invoke()` is fed and `segment()` is timed on (a sample name, path or image).
        pipeline: Also time the whole `segment()` call.
        score: Score each model on the labelled data of its label set (`labelled.labelled_for`), if any.
        memory: Measure each model's peak memory in a fresh process (about a second per model).
        agreement_photos: Photos for agreement when a candidate has no labelled data (default: the sample photos).
        progress: Called with (stage, done, total).

    Raises:
        OptionsError: No candidates, repeated names, a reference that is not a candidate, or too few rounds.
    """
    names = [c.name for c in candidates]
    if not names or len(set(names)) != len(names):
        raise OptionsError(f"give candidates with distinct names, not {names}")
    missing = [c.reference for c in candidates if c.reference is not None and c.reference not in names]
    if missing:
        raise OptionsError(f"reference {missing[0]!r} is not one of the candidates")
    counts = tuple(t for t in dict.fromkeys(threads) if 1 <= t <= cpu_count())
    if not counts:
        raise OptionsError(f"no usable thread count in {tuple(threads)} on {cpu_count()} cores")
    report = progress or (lambda stage, done, total: None)
    image = resolve_image(photo)
    tasks: dict[str, Task] = {}
    for c in candidates:
        for t in counts:
            options = RuntimeOptions(num_threads=t)
            tasks[f"{c.name} | invoke | {t}"] = invoke_task(c.segmenter.spec, options, image=image)
            if pipeline:
                segmenter = Segmenter(c.segmenter.spec, options, resize=c.segmenter.resize)
                tasks[f"{c.name} | segment | {t}"] = partial(segmenter.segment, image)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if done % len(tasks) == 0:
            report("timing", done // len(tasks), rounds + 1)

    timing = time_interleaved({k: _counted(v, tick) for k, v in tasks.items()}, rounds=rounds, warmup=1)

    scores: dict[str, tuple[float, float, str, dict[str, np.ndarray]]] = {}
    if score:
        for k, c in enumerate(candidates):
            dataset = labelled_for(c.segmenter.spec.labels.name)
            if dataset is not None:
                segmenter = Segmenter(c.segmenter.spec, resize=c.segmenter.resize)
                result = evaluate(segmenter, dataset, keep_predictions=True, warmup=False, progress=False)
                predictions = {
                    item.image_path.name: s.prediction
                    for item, s in zip(dataset.items, result.images, strict=True)
                    if s.prediction is not None
                }
                scores[c.name] = (
                    result.miou,
                    result.pixel_accuracy,
                    f"{dataset.name}, {len(dataset)} images",
                    predictions,
                )
            report("scoring", k + 1, len(candidates))

    by_name = {c.name: c for c in candidates}
    rows = []
    for k, c in enumerate(candidates):
        spec = c.segmenter.spec
        invoke = {t: timing.stat(f"{c.name} | invoke | {t}").median_ms for t in counts}
        segment = {t: timing.stat(f"{c.name} | segment | {t}").median_ms for t in counts} if pipeline else {}
        miou, accuracy, scored_on = scores[c.name][:3] if c.name in scores else (None, None, None)
        agreement, photos = _agreement(c, by_name[c.reference], scores, agreement_photos) if c.reference else (None, 0)
        peak = peak_memory(spec, RuntimeOptions(num_threads=1)).model_mb if memory else None
        if memory:
            report("memory", k + 1, len(candidates))
        rows.append(
            ModelRow(
                name=c.name,
                model=c.model,
                variant=c.variant,
                label_set=spec.labels.name,
                size_bytes=len(spec.content),
                invoke_ms=MappingProxyType(invoke),
                pipeline_ms=MappingProxyType(segment),
                miou=miou,
                pixel_accuracy=accuracy,
                dataset=scored_on,
                agreement=agreement,
                reference=c.reference,
                agreement_photos=photos,
                peak_mb=peak,
            )
        )
    return ModelReport(
        rows=tuple(rows),
        timing=timing,
        threads=counts,
        photo=photo if isinstance(photo, str) else getattr(photo, "name", "a photo"),
        machine=machine_description(),
        date=datetime.date.today().isoformat(),
        dot_product=int8_dot_product(),
    )


def _agreement(
    candidate: Candidate,
    reference: Candidate,
    scores: Mapping[str, tuple[float, float, str, dict[str, np.ndarray]]],
    photos: Sequence[ImageInput] | None,
) -> tuple[float, int]:
    """Median class-map agreement with the reference over photos the candidate was not calibrated on."""
    excluded = set(candidate.excluded)
    if candidate.name in scores and reference.name in scores:
        mine, theirs = scores[candidate.name][3], scores[reference.name][3]
        shares = [float((mine[n] == theirs[n]).mean()) for n in mine if n in theirs and n not in excluded]
    else:
        shares = []
        for sample in photos if photos is not None else [s.name for s in list_samples("photo")]:
            if isinstance(sample, str) and sample in excluded:
                continue
            image = resolve_image(sample)
            a = candidate.segmenter.segment(image).labels
            b = reference.segmenter.segment(image).labels
            shares.append(float((a == b).mean()))
    return (statistics.median(shares), len(shares)) if shares else (float("nan"), 0)


def zoo_candidates(
    recipes: Sequence[str] = (),
    *,
    models: Sequence[str] | None = None,
    calibration: Any = "samples",
    count: int = DEFAULT_COUNT,
    progress: Progress | None = None,
) -> list[Candidate]:
    """Zoo models as published (default: all), and each float one quantized with `recipes` (`workflows.quantize`).

    Raises:
        ModelNotFoundError: A name in `models` is not a zoo id.
    """
    out = []
    for info in [model_info(m) for m in models] if models is not None else list_models():
        segmenter = Segmenter(info.name)
        out.append(Candidate(info.name, segmenter, info.name))
        if info.input_dtype != "float32":
            continue
        for recipe in recipes:
            made = quantize(
                segmenter,
                check_recipe(recipe),
                calibration=calibration,
                count=count,
                progress=partial(prefixed, progress, recipe) if progress else False,
            )
            excluded = made.calibration.names if made.calibration else ()
            out.append(Candidate(made.name, made.segmenter(), info.name, recipe, info.name, excluded))
    return out


def prefixed(progress: Progress, prefix: str, stage: str, done: int, total: int) -> None:
    """Report to `progress` with the stage named `<prefix>: <stage>` (bind the first two with `partial`)."""
    progress(f"{prefix}: {stage}", done, total)


def model_report(
    recipes: Sequence[str] = RECIPES,
    *,
    models: Sequence[str] | None = None,
    calibration: Any = "samples",
    count: int = DEFAULT_COUNT,
    threads: Sequence[int] = DEFAULT_THREADS,
    rounds: int = DEFAULT_ROUNDS,
    photo: ImageInput = DEFAULT_PHOTO,
    memory: bool = True,
    progress: bool | Progress = False,
) -> ModelReport:
    """The engineers' table: every zoo model and the quantized variants of its float models, measured in one run.

    Args:
        recipes: Quantization recipes applied to each float zoo model (`workflows.quantize.RECIPES`).
        models: Zoo ids to include (default: every zoo model).
        calibration: Calibration photos for the static recipes (see `quantize`).
        count: How many calibration photos.
        threads: Thread counts to time at (default 1 and 2).
        rounds: Round-robin timing rounds.
        photo: The photo `invoke()` is fed and `segment()` is timed on.
        memory: Measure peak memory per model in a fresh process.
        progress: True for a progress bar on stderr, or a callback (stage, done, total).

    Raises:
        DependencyError: A recipe is asked for without litert-quantizer installed (the `quantize` extra).
        CalibrationError, QuantizationError: As `quantize`.
    """
    report, close = stage_reporter(progress)
    try:
        candidates = zoo_candidates(recipes, models=models, calibration=calibration, count=count, progress=report)
        return measure_models(candidates, threads=threads, rounds=rounds, photo=photo, memory=memory, progress=report)
    finally:
        close()
