"""`segment_video`: one segmentation result per frame, at the model's speed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...core.model import ModelInput
from ...core.pool import SegmenterPool
from ...core.preprocess import Placement, argmax_labels, restore
from ...core.runtime import RuntimeOptions
from ...core.segmenter import ClassShare, SegmentationResult, Segmenter, Timings
from ...errors import NoScoresError, OptionsError, VideoError
from .reader import DecodedFrame, VideoReader, VideoSource
from .temporal import ProbabilitySmoother, check_weight


@dataclass(frozen=True)
class VideoFrameResult:
    """The segmentation of one video frame: its index, timestamp, result and (optionally) the frame itself."""

    index: int
    time: float  # seconds
    segmentation: SegmentationResult
    decode_ms: float  # on the decode thread, overlapped with the previous frame's invoke
    image: np.ndarray | None = field(default=None, repr=False)  # H x W x 3 RGB frame, when asked for

    @property
    def labels(self) -> np.ndarray:
        """The class map (model resolution, or the video's with `full_size=True`)."""
        return self.segmentation.labels

    @property
    def timings(self) -> Timings:
        """Preprocess, invoke and postprocess milliseconds of this frame."""
        return self.segmentation.timings

    def present_classes(self) -> list[ClassShare]:
        """Classes present in this frame, largest share first."""
        return self.segmentation.present_classes()

    def to_json(self) -> dict[str, Any]:
        """One JSON-lines record: index, time, classes with shares, timings."""
        t = self.timings
        return {
            "index": self.index,
            "time": round(self.time, 4),
            "classes": [{"id": c.id, "name": c.name, "fraction": round(c.fraction, 6)} for c in self.present_classes()],
            "timings_ms": {
                "decode": round(self.decode_ms, 3),
                "preprocess": round(t.preprocess_ms, 3),
                "invoke": round(t.invoke_ms, 3),
                "postprocess": round(t.postprocess_ms, 3),
            },
        }


def model_size(segmenter: Segmenter, video_size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) the decoder should scale frames to for this model and resize mode."""
    h, w = segmenter.spec.input_size
    if segmenter.resize == "stretch":
        return w, h
    vw, vh = video_size
    scale = min(h / vh, w / vw)
    return max(1, round(vw * scale)), max(1, round(vh * scale))


def as_segmenter(model: ModelInput | Segmenter, options: RuntimeOptions | None = None) -> Segmenter:
    """A Segmenter from a zoo id, a path, bytes or an existing Segmenter (then `options` re-targets it)."""
    if isinstance(model, Segmenter):
        return model.with_options(options) if options is not None else model
    return Segmenter(model, options)


def segment_video(
    source: VideoSource,
    model: ModelInput | Segmenter = "deeplabv3-starter",
    *,
    options: RuntimeOptions | None = None,
    smooth: float = 0.0,
    full_size: bool = False,
    frames: bool = False,
    frame_size: tuple[int, int] | None = None,
    scores: bool = False,
    start: int = 0,
    limit: int | None = None,
    interpreters: int | None = None,
    progress: bool = True,
) -> Generator[VideoFrameResult, None, None]:
    """Segment every frame of a video file; yields one `VideoFrameResult` per frame, in order.

    Frames are decoded on a background thread and scaled to the model input by FFmpeg, so the
    loop costs little more than one `invoke()` per frame. Class maps are at the model's resolution
    unless `full_size=True` (the video's resolution). `frames=True` also returns each RGB frame
    (for overlays), at `frame_size` (width, height; default the video's). `smooth` in [0, 1) is the weight of the past in an exponential moving average
    of the class probabilities (0 = off); it needs a model with scores. `start` seeks to a frame
    index; `limit` stops after that many frames.

    `interpreters` > 1 segments that many frames at once, each on an interpreter of its own with the
    options' threads shared out among them; results still come in frame order. The default, when only
    class maps are wanted (no `scores`, no `smooth`) and no external delegate is set, is one 1-thread
    interpreter per thread of `options` (on 2 cores: two frames at once, which uses the cores better than
    one 2-thread `invoke()` per frame; `benchmarks/video_throughput.py` measures both); otherwise 1.

    Raises `VideoNotFoundError`, `VideoFormatError`, `NoVideoStreamError`, `VideoCodecError`,
    `VideoTruncatedError` for unusable input, `NoScoresError` when smoothing a model without scores.
    """
    segmenter = as_segmenter(model, options)
    weight = check_weight(smooth)
    if weight and not segmenter.spec.has_scores:
        raise NoScoresError(
            f"{segmenter.spec.name} outputs class ids and its logits could not be found: it has no scores to "
            "smooth; use a zoo model (every one has scores), or smooth=0"
        )
    smoother = ProbabilitySmoother(weight) if weight else None
    want_scores = scores or smoother is not None
    count = _interpreters(segmenter, interpreters, want_scores)
    reader = VideoReader(source, None, full=frames, image_size=frame_size, start=start, limit=limit)
    size = model_size(segmenter, reader.info.size)
    reader.size = size
    small = Placement(size, (size[1], size[0]))
    full = Placement(reader.info.size, (size[1], size[0]))
    remaining = max(0, reader.info.frames - start) if reader.info.frames else 0
    total = min(remaining, limit or remaining) or None
    bar = tqdm(total=total, unit="frame", desc=reader.path.name, disable=not progress, leave=False)
    segmented = _segmented(reader, segmenter, small, scores=want_scores, interpreters=count)
    try:
        for frame, result in segmented:
            if smoother is not None or full_size:
                result = _finish(result, smoother, full if full_size else None, keep_scores=want_scores)
            bar.update()
            yield VideoFrameResult(frame.index, frame.time, result, frame.decode_ms, frame.image)
    finally:
        segmented.close()  # a consumer that stops early: frames in flight are cancelled or finished first
        bar.close()
        reader.close()


def _interpreters(segmenter: Segmenter, asked: int | None, scores: bool) -> int:
    """How many frames run at once: `asked`, or one per interpreter thread when that is safe and useful."""
    if asked is not None:
        if not 1 <= asked <= segmenter.options.num_threads:
            raise OptionsError(
                f"interpreters must be between 1 and the options' num_threads ({segmenter.options.num_threads}), "
                f"not {asked}"
            )
        if asked > 1 and scores:
            raise OptionsError("interpreters > 1 needs class maps only: leave out scores and smooth, or interpreters")
        return asked
    if scores or segmenter.options.delegate is not None:
        return 1  # a delegate may own one device; scores come from one cached interpreter per options
    return segmenter.options.num_threads


def _segmented(
    reader: VideoReader, segmenter: Segmenter, small: Placement, *, scores: bool, interpreters: int
) -> Generator[tuple[DecodedFrame, SegmentationResult], None, None]:
    """Each decoded frame with its segmentation, in order; with `interpreters` > 1, that many frames at once."""
    if interpreters == 1:
        for frame in reader:
            yield frame, segmenter.segment_fitted(frame.pixels, small, scores=scores, started=time.perf_counter())
        return
    segmenters = SegmenterPool(segmenter, size=interpreters, threads=segmenter.options.num_threads // interpreters)

    def run(pixels: np.ndarray) -> SegmentationResult:
        with segmenters.borrow() as own:
            return own.segment_fitted(pixels, small)

    pending: deque[tuple[DecodedFrame, Future[SegmentationResult]]] = deque()
    with ThreadPoolExecutor(interpreters, thread_name_prefix="deeplab-widgets-video") as pool:
        try:
            try:
                for frame in reader:
                    pending.append((frame, pool.submit(run, frame.pixels)))
                    if len(pending) > interpreters:  # one more waiting, so no interpreter idles
                        done, future = pending.popleft()
                        yield done, future.result()
            except VideoError:  # a clip that breaks off: the frames decoded before the break come out first
                while pending:
                    done, future = pending.popleft()
                    yield done, future.result()
                raise
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _finish(
    result: SegmentationResult, smoother: ProbabilitySmoother | None, full: Placement | None, *, keep_scores: bool
) -> SegmentationResult:
    """Apply smoothing (class map from the smoothed probabilities) and scale the class map up to the video."""
    t0 = time.perf_counter()
    labels, probs = result.labels, result.scores
    if smoother is not None and probs is not None:
        probs = smoother.update(probs)
        labels = argmax_labels(probs)
    if full is not None:
        labels = restore(labels, full)
    labels.setflags(write=False)
    extra = (time.perf_counter() - t0) * 1e3
    t = result.timings
    timings = Timings(t.preprocess_ms, t.invoke_ms, t.postprocess_ms + extra)
    return replace(result, labels=labels, scores=probs if keep_scores else None, timings=timings)
