"""`segment_video`: one segmentation result per frame, at the model's speed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...core.checks import check_flag, check_int
from ...core.pool import SegmenterPool
from ...core.preprocess import Placement, ResizeMode, argmax_labels, content_size, restore
from ...core.runtime import RuntimeOptions
from ...core.segmenter import ClassShare, SegmentationResult, Segmenter, SegmenterInput, Timings, as_segmenter
from ...core.size import Size, as_size
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


def model_size(segmenter: Segmenter, video_size: Size) -> Size:
    """The size the decoder should scale frames of `video_size` to for this model and resize mode.

    Args:
        segmenter: The model (its input size and resize mode).
        video_size: The video's frame size.
    """
    return content_size(video_size, segmenter.spec.input_size, segmenter.resize)


class VideoFrames:
    """A `segment_video` run: iterate it for one `VideoFrameResult` per frame, in frame order.

    `segment_video` has opened the video and checked every argument before it returns this; decoding starts
    with the first `next()`. `close()` (or leaving a `with` block) stops early: frames in flight are finished
    or cancelled, the decode thread stops and the file is closed. Iterate it once.

    Args:
        reader: The opened video, with its model-sized scaling set.
        segmenter: The segmenter that runs on each frame.
        smoother: The temporal smoother, or None.
        full_size: Scale class maps up to the video's size.
        scores: Keep each frame's probabilities.
        interpreters: Frames segmented at once.
        progress: Show a tqdm bar while iterating.

    Attributes:
        info: The video's size, frame rate, frame count and codec.
        segmenter: The segmenter that runs on each frame.
        total: How many frames the run will yield, when the container says (else None).
    """

    def __init__(
        self,
        reader: VideoReader,
        segmenter: Segmenter,
        *,
        smoother: ProbabilitySmoother | None,
        full_size: bool,
        scores: bool,
        interpreters: int,
        progress: bool,
    ) -> None:
        self.segmenter, self.info = segmenter, reader.info
        remaining = max(0, reader.info.frames - reader.start) if reader.info.frames else 0
        self.total = min(remaining, reader.limit if reader.limit is not None else remaining) or None
        self._reader, self._smoother, self._full_size = reader, smoother, full_size
        self._scores, self._interpreters, self._progress = scores, interpreters, progress
        self._gen = self._run()

    def __iter__(self) -> Iterator[VideoFrameResult]:
        return self

    def __next__(self) -> VideoFrameResult:
        return next(self._gen)

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: frames in flight are cancelled or finished first, then the decoder and the file are closed."""
        self._gen.close()
        self._reader.close()  # also when iteration never started

    def _run(self) -> Generator[VideoFrameResult, None, None]:
        reader, segmenter = self._reader, self.segmenter
        small = Placement(reader.size, reader.size)
        full = Placement(reader.info.size, reader.size)
        bar = tqdm(total=self.total, unit="frame", desc=reader.path.name, disable=not self._progress, leave=False)
        segmented = _segmented(reader, segmenter, small, scores=self._scores, interpreters=self._interpreters)
        try:
            for frame, result in segmented:
                if self._smoother is not None or self._full_size:
                    result = _finish(
                        result, self._smoother, full if self._full_size else None, keep_scores=self._scores
                    )
                bar.update()
                yield VideoFrameResult(frame.index, frame.time, result, frame.decode_ms, frame.image)
        finally:
            segmented.close()  # a consumer that stops early: frames in flight are cancelled or finished first
            bar.close()
            reader.close()


def segment_video(
    source: VideoSource,
    model: SegmenterInput = "deeplabv3-starter",
    *,
    options: RuntimeOptions | None = None,
    resize: ResizeMode | None = None,
    smooth: float = 0.0,
    full_size: bool = False,
    frames: bool = False,
    frame_size: Size | None = None,
    scores: bool = False,
    start: int = 0,
    limit: int | None = None,
    interpreters: int | None = None,
    progress: bool = True,
) -> VideoFrames:
    """Segment every frame of a video file; iterate the returned run for one `VideoFrameResult` per frame.

    Everything is checked, the model loaded and the video opened before this returns, so bad input raises
    here, not on the first frame. Frames are decoded on a background thread and scaled to the model input by
    FFmpeg, so the loop costs little more than one `invoke()` per frame.

    Args:
        source: A video file's path, or the name of a sample video (`"cockatoo"`).
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        smooth: The weight of the past, in [0, 1), of an exponential moving average of the class
            probabilities (0: off); needs a model with scores.
        full_size: Class maps at the video's resolution (default: the model's, all a class count needs).
        frames: Also return each RGB frame (`VideoFrameResult.image`), e.g. for overlays.
        frame_size: The size of those frames (default: the video's).
        scores: Keep each frame's class probabilities (`segmentation.scores`).
        start: The first frame's index (a seek to the keyframe before it, then decoding forward).
        limit: Stop after this many frames, 1 or more (default: the whole video).
        interpreters: Frames segmented at once, each on an interpreter of its own with the options' threads
            shared out among them; results still come in frame order. Default: when only class maps are wanted
            (no `scores`, no `smooth`) and no external delegate is set, one 1-thread interpreter per thread of
            the options (on 2 cores: two frames at once, which uses the cores better than one 2-thread
            `invoke()` per frame; `benchmarks/video_throughput.py` measures both); otherwise 1.
        progress: Show a tqdm progress bar while iterating.

    Returns:
        The run: an iterator of `VideoFrameResult`s with `close()` and `with` support.

    Raises:
        VideoNotFoundError, VideoFormatError, NoVideoStreamError, VideoCodecError: Unusable input (at call time).
        VideoTruncatedError: A file that starts like a video but cannot be read (at call time), or that breaks
            off partway (while iterating).
        NoScoresError: Smoothing with a model without scores.
        OptionsError: An argument of the wrong type; `smooth`, `start` (past the last frame too), `limit` or
            `interpreters` out of range, or `interpreters` > 1 with scores or smoothing.
        ModelNotFoundError, ModelFormatError: As `as_segmenter`.
    """
    weight = check_weight(smooth)
    start = check_int("start", start, minimum=0)
    limit = None if limit is None else check_int("limit", limit, minimum=1)
    full_size, frames = check_flag("full_size", full_size), check_flag("frames", frames)
    scores, progress = check_flag("scores", scores), check_flag("progress", progress)
    segmenter = as_segmenter(model, options, resize=resize)
    if weight and not segmenter.spec.has_scores:
        raise NoScoresError(
            f"{segmenter.spec.name} outputs class ids and its logits could not be found: it has no scores to "
            "smooth; use a zoo model (every one has scores), or smooth=0"
        )
    want_scores = scores or bool(weight)
    count = _interpreters(segmenter, interpreters, want_scores)
    image_size = as_size(frame_size, "frame_size") if frame_size is not None else None
    reader = VideoReader(source, None, full=frames, image_size=image_size, start=start, limit=limit)
    reader.size = model_size(segmenter, reader.info.size)
    return VideoFrames(
        reader,
        segmenter,
        smoother=ProbabilitySmoother(weight) if weight else None,
        full_size=full_size,
        scores=want_scores,
        interpreters=count,
        progress=progress,
    )


def _interpreters(segmenter: Segmenter, asked: int | None, scores: bool) -> int:
    """How many frames run at once: `asked`, or one per interpreter thread when that is safe and useful."""
    if asked is not None:
        check_int("interpreters", asked)
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
