"""Reading a video with PyAV: frames decoded on a background thread, scaled by FFmpeg's scaler.

FFmpeg's decoder and scaler release the GIL, so a decode thread feeding a small queue overlaps
decoding the next frame with `invoke()` on the current one. Frames come out already scaled to the
size the model needs (`frame.reformat(width=, height=, format="gbrp")`, planar RGB), so no full-resolution RGB
frame is built unless the caller asks for it (overlays). Failures are specific `VideoError`s.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from ...core.checks import check_path
from ...core.size import Size
from ...errors import (
    NoVideoStreamError,
    OptionsError,
    VideoCodecError,
    VideoFormatError,
    VideoNotFoundError,
    VideoTruncatedError,
)

VideoSource = str | os.PathLike
#: FFmpeg's scaler algorithm for shrinking frames to the model input ("AREA" averages, like PIL's BOX).
SCALER = "AREA"
#: Decoded frames waiting for the model: enough to hide decode jitter, small enough to bound memory.
QUEUE_FRAMES = 4
#: FFmpeg threads for the H.264 decoder and for the scaler: one each (0 would be FFmpeg's choice: one per
#: core plus one for the decoder, one per core for the scaler). The decode thread already runs beside the
#: model's `invoke()`, whose threads keep the cores busy; FFmpeg's extra threads add CPU per frame (hand-offs
#: between threads) that `invoke()` pays for. The frames are bit-identical either way (tests/test_video.py).
FFMPEG_THREADS = 1
#: The scaler's output format for the model's pixels: planar RGB, which FFmpeg converts from YUV with less CPU
#: than packed "rgb24" (benchmarks/RESULTS.md, "Video"); `to_ndarray` stacks the planes into the same
#: H x W x 3 RGB array, bit for bit.
SCALED_FORMAT = "gbrp"


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: upright size, frame rate, frame count, duration, codec and rotation.

    `width` and `height` are the size frames are shown at: a phone clip stored landscape with a rotation
    tag of 90 degrees is `720 x 1280`, and `VideoReader` turns its frames upright.
    """

    path: str
    width: int
    height: int
    fps: float
    frames: int  # declared by the container; 0 when it does not say
    duration: float  # seconds
    codec: str
    rate: Fraction = field(repr=False, default=Fraction(0))  # the exact frame rate, for writing at the same rate
    rotation: int = 0  # degrees counter-clockwise that turn the stored frames upright: 0, 90, 180 or 270

    @property
    def size(self) -> Size:
        """The frame size."""
        return Size(self.height, self.width)


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: its index, timestamp, the model-sized pixels and optionally the full RGB frame."""

    index: int
    time: float  # seconds from the start of the stream
    pixels: np.ndarray = field(repr=False)  # h x w x 3 uint8 at the requested (model) size
    image: np.ndarray | None = field(repr=False)  # H x W x 3 uint8 at the video's size, when asked for
    decode_ms: float  # decoding, scaling and conversion of this frame (on the decode thread)


def resolve_video(source: VideoSource) -> Path:
    """A video path: a file path, or the name of a registered sample video (e.g. "cockatoo").

    Args:
        source: A video file's path, or a sample video's name.

    Raises:
        VideoNotFoundError: No such file, and no sample video of that name.
        OptionsError: `source` is not a path or a name.
    """
    path = check_path("video", source)
    if path.is_file():
        return path
    if isinstance(source, str) and os.sep not in source and "." not in source:
        from ...assets import samples

        try:
            if samples.sample(source).kind == "video":
                return samples.sample_path(source)
        except KeyError:
            pass
    raise VideoNotFoundError(f"video file not found: {source}")


def _open(path: Path) -> Any:
    try:
        return av.open(str(path))
    except av.error.FileNotFoundError as exc:
        raise VideoNotFoundError(f"video file not found: {path}") from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        reason = _reason(exc)
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":  # MP4/MOV: the top-level boxes tell a cut file from a damaged one
            boxes = _mp4_boxes(path)
            kind, _, end = boxes[-1]
            if end > path.stat().st_size:
                raise VideoTruncatedError(
                    f"{path.name} is cut short ({reason}): its {kind.decode('latin-1')!r} box runs past the end of "
                    "the file (an incomplete download or copy)"
                ) from exc
            if b"moov" not in {kind for kind, _, _ in boxes}:
                raise VideoTruncatedError(
                    f"{path.name} has no index (moov box) ({reason}): the recording or copy did not finish"
                ) from exc
            raise VideoFormatError(
                f"{path.name} is complete but its index (moov box) is damaged ({reason}); the file cannot be read"
            ) from exc
        if head[:4] == b"\x1a\x45\xdf\xa3":  # Matroska/WebM
            raise VideoTruncatedError(
                f"{path.name} starts like a video file but FFmpeg cannot read it ({reason}): "
                "it is probably truncated (an incomplete download or copy)"
            ) from exc
        raise VideoFormatError(f"{path.name} is not a readable video file ({reason})") from exc


def _mp4_boxes(path: Path) -> list[tuple[bytes, int, int]]:
    """The top-level boxes of an MP4/MOV file as (type, start, end); the last one may end past the file's end."""
    boxes: list[tuple[bytes, int, int]] = []
    size = path.stat().st_size
    with open(path, "rb") as f:
        start = 0
        while start + 8 <= size:
            f.seek(start)
            header = f.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1 and len(header) == 16:  # a 64-bit size follows
                length = int.from_bytes(header[8:16], "big")
            end = size if length == 0 else start + max(length, 8)  # 0: the box runs to the end of the file
            boxes.append((kind, start, end))
            start = end
    return boxes


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise NoVideoStreamError(f"{path.name} has no video stream (it holds: {', '.join(kinds)})")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None or not codec.width or not codec.height:
        name = getattr(getattr(stream, "codec", None), "name", None) or "unknown"
        container.close()
        raise VideoCodecError(f"{path.name}: its video codec ({name}) cannot be decoded by this FFmpeg build")
    return stream


def video_info(source: VideoSource) -> VideoInfo:
    """Size, frame rate, frame count and codec of a video, without decoding it.

    Args:
        source: A video file's path, or a sample video's name.
    """
    path = resolve_video(source)
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        stream.codec_context.thread_count = FFMPEG_THREADS
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError:  # decoding reports it; the size is still known
            first = None
        return _info(path, stream, container, first)
    finally:
        container.close()


def _info(path: Path, stream: Any, container: Any, first: Any) -> VideoInfo:
    """The stream's description; `first` is its first decoded frame (None if it could not be decoded), whose
    display matrix gives the rotation (PyAV exposes it on frames only)."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    duration = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    rotation = round(getattr(first, "rotation", 0) or 0) // 90 % 4 * 90
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        fps=float(rate),
        frames=int(stream.frames or 0),
        duration=duration,
        codec=stream.codec_context.name,
        rate=Fraction(rate),
        rotation=rotation,
    )


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """An H x W x 3 frame turned `rotation` degrees counter-clockwise (as `VideoInfo.rotation` asks), contiguous."""
    return np.ascontiguousarray(np.rot90(pixels, rotation // 90)) if rotation else pixels


class VideoReader:
    """Decodes a video on a background thread; iterate for `DecodedFrame`s, close (or `with`) to stop.

    `size` is the size the pixels are scaled to (None: the video's size); `full=True` also
    converts each frame to RGB at `image_size` (default: the video's size). `start` seeks to that frame
    index: to the last keyframe at or before it, then decodes forward, dropping frames until the target
    timestamp (see `_frames_from`), so a seek costs the distance from a keyframe, not from the start of the
    file; `limit` stops after that many frames.

    Args:
        source: A video file's path, or a sample video's name.
        size: The size of the model-sized pixels (default: the video's); may be set before iterating.
        full: Also convert each frame to RGB at `image_size` (`DecodedFrame.image`).
        image_size: The size of those frames (default: the video's).
        start: The first frame's index.
        limit: Stop after this many frames.
    """

    def __init__(
        self,
        source: VideoSource,
        size: Size | None = None,
        *,
        full: bool = False,
        image_size: Size | None = None,
        start: int = 0,
        limit: int | None = None,
    ) -> None:
        self.path = resolve_video(source)
        self._container = _open(self.path)
        stream = _video_stream(self._container, self.path)
        stream.thread_type = "AUTO"  # frame or slice threads, whichever the codec supports
        stream.codec_context.thread_count = FFMPEG_THREADS
        # The first frame is decoded here: its display matrix is the rotation, and every read starts with it
        # (see `_frames_from`); a failure to decode it is raised when iterating, like any decoding failure.
        self._frames = self._container.decode(stream)
        self._first: Any = None
        self._first_error: av.error.FFmpegError | None = None
        try:
            self._first = next(self._frames, None)
        except av.error.FFmpegError as exc:
            self._first_error = exc
        self.info = _info(self.path, stream, self._container, self._first)
        if self.info.frames and start >= self.info.frames:
            self._container.close()
            raise OptionsError(
                f"start must be a frame of the video: {self.path.name} has {self.info.frames} frames (0 to "
                f"{self.info.frames - 1}), not {start}"
            )
        self.size = size or self.info.size
        self.full, self.start, self.limit = full, max(0, start), limit
        self.image_size = image_size or self.info.size
        self._stream = stream
        self._queue: queue.Queue[DecodedFrame | BaseException | None] = queue.Queue(QUEUE_FRAMES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="video-decode", daemon=True)
        self._started = False
        #: The frame decoding started from, once iterating: 0, or the keyframe a seek to `start` landed on.
        self.decoded_from = 0

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self._started:
            raise RuntimeError("a VideoReader can be iterated once")
        self._started = True
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop decoding and release the file (safe to call twice)."""
        self._stop.set()
        if self._thread.is_alive():
            while self._thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(0.05)
        if self._container is not None:
            self._container.close()
            self._container = None

    def _put(self, item: DecodedFrame | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self) -> None:
        rotation = self.info.rotation
        height, width = self.size if rotation in (0, 180) else self.size[::-1]  # scaled before turning
        index, count = self.start, 0
        try:
            frames, skip = self._frames_from(self.start)
            while self.limit is None or count < self.limit:
                t0 = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    raise self._decode_error(index, exc) from exc
                if skip:
                    skip -= 1
                    continue
                seconds = float(frame.time) if frame.time is not None else index / self.info.fps
                small = frame.reformat(
                    width=width, height=height, format=SCALED_FORMAT, interpolation=SCALER, threads=FFMPEG_THREADS
                )
                pixels = upright(small.to_ndarray(), rotation)
                image = None
                if self.full:
                    ih, iw = self.image_size if rotation in (0, 180) else self.image_size[::-1]
                    image = frame.to_ndarray(width=iw, height=ih, format="rgb24", interpolation=SCALER)
                    image = upright(image, rotation)
                item = DecodedFrame(index, seconds, pixels, image, (time.perf_counter() - t0) * 1e3)
                if not self._put(item):
                    return
                index += 1
                count += 1
            declared = self.info.frames
            if self.limit is None and declared and index < declared:
                raise VideoTruncatedError(
                    f"{self.path.name} ends after {index} of its {declared} frames: the file is truncated"
                )
            if index == 0:
                raise VideoCodecError(
                    f"{self.path.name}: no frame of its {self.info.codec} video stream could be decoded"
                )
            self._put(None)
        except BaseException as exc:
            self._put(exc)

    def _frames_from(self, start: int) -> tuple[Iterator[Any], int]:
        """Decoded frames from frame `start` on, and how many of them the caller must still drop.

        The decoder first decodes the stream's first frame: its packet carries the encoder's SEI (x264 writes
        its version there, and FFmpeg's H.264 decoder uses it to work around old x264 bugs; without it the
        cockatoo clip's keyframes decode green). Then it seeks to the last keyframe at or before `start`'s
        timestamp and drops frames until that timestamp. The pixels equal those decoded from the start
        (`tests/test_video.py` compares them). When the container cannot seek, decoding goes on from frame 1;
        when the seek lands after the target, it starts again from the first frame; in both cases the caller
        drops the frames before `start` by count.
        """
        if self._first_error is not None:
            raise self._decode_error(0, self._first_error) from self._first_error
        frames = self._frames  # frame 0 is decoded already (`__init__`), which also gave the SEI
        if self._first is None:
            return iter(()), 0
        if start == 0:
            return itertools.chain([self._first], frames), 0
        stream = self._stream
        if stream.time_base is None or not self.info.rate:
            return frames, start - 1
        origin = stream.start_time or 0
        frame_pts = 1 / (self.info.rate * stream.time_base)  # one frame in time-base units
        target = origin + round(start * frame_pts)
        try:
            self._container.seek(target, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            return frames, start - 1  # not seekable: decode on from frame 1
        frames = self._container.decode(stream)
        first = next(frames, None)
        if first is None or first.pts is None or first.pts > target:
            self._container.seek(origin, stream=stream, backward=True, any_frame=False)
            return self._container.decode(stream), start
        self.decoded_from = round((first.pts - origin) / frame_pts)
        return self._dropping_until(itertools.chain([first], frames), target - frame_pts / 2), 0

    @staticmethod
    def _dropping_until(frames: Iterator[Any], pts: float) -> Iterator[Any]:
        """`frames` without those whose timestamp is before `pts` (those between the keyframe and the target)."""
        for frame in frames:
            if frame.pts is None or frame.pts >= pts:
                yield frame
                yield from frames
                return

    def _decode_error(self, index: int, exc: BaseException) -> BaseException:
        if index == 0:
            return VideoCodecError(
                f"{self.path.name}: its {self.info.codec} video stream could not be decoded ({_reason(exc)})"
            )
        return VideoTruncatedError(
            f"{self.path.name} breaks off at frame {index}, which cannot be decoded ({_reason(exc)})"
        )
