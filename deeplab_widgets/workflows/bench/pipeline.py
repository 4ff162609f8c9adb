"""`benchmark_pipeline()`: time decode -> preprocess -> invoke -> postprocess -> render, stage by stage."""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ...core.export import mask_image
from ...core.images import ImageInput, load_image
from ...core.preprocess import ResizeMode
from ...core.runtime import RuntimeOptions, backend_module
from ...core.segmenter import SegmentationResult, SegmenterInput, as_segmenter
from ...core.size import Size
from ...errors import StageNotFoundError
from ..samples import resolve_image
from .latency import DEFAULT_WARMUP, LatencyStats, check_counts, describe_image, options_dict
from .tables import latency_row

#: The photo the pipeline mode decodes when none is given.
DEFAULT_PHOTO = "cat"
#: Stages of one pipeline run, in order ("other" is `segment()`'s own input checks and bookkeeping).
STAGES = ("decode", "preprocess", "invoke", "postprocess", "render", "other", "total")

#: A render stage: the decoded photo and the result in, encoded bytes out (what a viewer would display).
Render = Callable[[Image.Image, SegmentationResult], bytes]


@dataclass(frozen=True)
class StageStats:
    """The timings of one pipeline stage over all runs."""

    name: str
    stats: LatencyStats
    samples_ms: tuple[float, ...] = field(repr=False)


@dataclass(frozen=True)
class PipelineResult:
    """Per-stage timings of the whole pipeline: decode, preprocess, invoke, postprocess, render, total."""

    model: str
    options: RuntimeOptions
    backend: str
    input: str
    image_size: Size  # of the decoded photo
    render: str  # what the render stage did
    stages: tuple[StageStats, ...]
    requested_runs: int
    stopped_early: bool

    def stage(self, name: str) -> StageStats:
        """One stage by name (see `STAGES`); another name raises `StageNotFoundError`.

        Args:
            name: One of `STAGES`.
        """
        for s in self.stages:
            if s.name == name:
                return s
        raise StageNotFoundError(f"no stage {name!r}; the stages are: {', '.join(s.name for s in self.stages)}")

    def shares(self) -> dict[str, float]:
        """Each stage's share of the mean total time (means add up; medians do not)."""
        total = self.stage("total").stats.mean_ms
        return {s.name: s.stats.mean_ms / total for s in self.stages if s.name != "total"}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict, including every timing."""
        return {
            "model": self.model,
            "options": options_dict(self.options),
            "backend": self.backend,
            "input": self.input,
            "image_size": {"height": self.image_size.height, "width": self.image_size.width},
            "render": self.render,
            "stages": {s.name: {"stats": s.stats.to_dict(), "samples_ms": list(s.samples_ms)} for s in self.stages},
            "requested_runs": self.requested_runs,
            "stopped_early": self.stopped_early,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row per stage (see `ROW_FIELDS`)."""
        return [
            latency_row(self.model, self.options, self.backend, self.input, s.name, s.stats, {}) for s in self.stages
        ]


def encode_mask_png(image: Image.Image, result: SegmentationResult) -> bytes:
    """The default render stage: the class map as a palette PNG (what `save_mask` writes), in memory.

    Args:
        image: The photo (unused: the mask alone is encoded).
        result: The segmentation.
    """
    buf = io.BytesIO()
    mask_image(result.labels, result.colormap).save(buf, format="PNG")
    return buf.getvalue()


def _describe_render(render: Render) -> str:
    """The first line of the render function's docstring, else its name."""
    text = render.__doc__ or str(getattr(render, "__name__", "render"))
    return text.strip().splitlines()[0]


def benchmark_pipeline(
    model: SegmenterInput = "deeplabv3-starter",
    options: RuntimeOptions | None = None,
    *,
    image: ImageInput = DEFAULT_PHOTO,
    runs: int = 20,
    warmup: int = DEFAULT_WARMUP,
    max_seconds: float | None = None,
    resize: ResizeMode | None = None,
    render: Render | None = None,
    on_run: Callable[[], None] | None = None,
) -> PipelineResult:
    """Time the whole path from encoded photo bytes to a displayable picture, stage by stage.

    Stages: decode (bytes in memory -> RGB), preprocess / invoke / postprocess (from `SegmentationResult.timings`),
    render, other (`segment()` bookkeeping) and total. Uses the Segmenter's cached interpreter.

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter` (see `as_segmenter`).
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        image: The photo: a path, a sample name, bytes or an in-memory image (default: the cat sample).
        runs: Timed runs.
        warmup: Untimed runs first.
        max_seconds: Stop timing after this many seconds, even before `runs` runs.
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        render: `render(photo, result) -> bytes`, the render stage (default `encode_mask_png`; the viz layer's
            `render_overlay` colourises and blends).
        on_run: Called after each timed run (not after the warm-up), e.g. for a progress bar.

    Raises:
        OptionsError: Bad counts or resize mode.
        ModelNotFoundError, ModelFormatError, BackendError, DelegateError: The model's and the backend's errors.
        ImageNotFoundError, ImageDecodeError: The image's errors.
    """
    check_counts(runs, warmup, max_seconds)
    segmenter = as_segmenter(model, options, resize=resize)
    options, spec = segmenter.options, segmenter.spec
    backend, _ = backend_module(options.backend)
    source = resolve_image(image)
    if isinstance(source, (str, os.PathLike)):
        load_image(source)  # a missing or unreadable file fails here with its own error
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:  # an in-memory picture: encode it once so the decode stage has something real to decode
        buf = io.BytesIO()
        load_image(source).save(buf, format="PNG")
        data = buf.getvalue()
    render = render or encode_mask_png
    times: dict[str, list[float]] = {name: [] for name in STAGES}

    def once() -> tuple[float, ...]:
        t0 = time.perf_counter()
        photo = load_image(data)
        t1 = time.perf_counter()
        result = segmenter.segment(photo)
        t2 = time.perf_counter()
        render(photo, result)
        t3 = time.perf_counter()
        tm = result.timings
        seg_ms = (t2 - t1) * 1e3
        return (
            (t1 - t0) * 1e3,
            tm.preprocess_ms,
            tm.invoke_ms,
            tm.postprocess_ms,
            (t3 - t2) * 1e3,
            max(0.0, seg_ms - tm.total_ms),
            (t3 - t0) * 1e3,
        )

    for _ in range(warmup):
        once()
    deadline = time.perf_counter() + max_seconds if max_seconds else math.inf
    done = 0
    while done < runs:
        for name, ms in zip(STAGES, once(), strict=True):
            times[name].append(ms)
        done += 1
        if on_run:
            on_run()
        if time.perf_counter() >= deadline:
            break
    size = Size.of(load_image(data))
    return PipelineResult(
        model=spec.name,
        options=options,
        backend=backend,
        input=describe_image(image),
        image_size=size,
        render=_describe_render(render),
        stages=tuple(StageStats(n, LatencyStats.from_samples(t), tuple(t)) for n, t in times.items()),
        requested_runs=runs,
        stopped_early=done < runs,
    )
