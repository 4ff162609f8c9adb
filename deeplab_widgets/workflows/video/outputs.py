"""A clip's outputs, written all or nothing: the segmented video, one mask per frame, JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ...core.export import (
    PART_SUFFIX,
    check_output_file,
    check_output_folder,
    claim_folder,
    mask_image,
    output_error,
)
from ...core.segmenter import SegmenterInput, as_segmenter
from ...errors import DeeplabWidgetsError
from .reader import VideoSource, resolve_video, video_info
from .segment import VideoFrameResult, segment_video
from .temporal import Flicker, FlickerMeter
from .writer import VideoWriter

#: Makes an output video frame (H x W x 3 RGB at the video's size) from a frame's result.
Render = Callable[[VideoFrameResult], np.ndarray]


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden temporary folder beside `path`; on success its files move into `path`, on failure it vanishes.

    Args:
        path: The final folder.

    Raises:
        OutputError: A folder cannot be created or a file cannot be written or moved (the OS error is its cause).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise output_error(target, exc) from exc
    try:
        yield tmp
        target.mkdir(exist_ok=True)
        for item in sorted(tmp.iterdir()):
            os.replace(item, target / item.name)
    except OSError as exc:
        if isinstance(exc, DeeplabWidgetsError):
            raise
        raise output_error(target, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def claim_outputs(*paths: Path) -> Iterator[None]:
    """Claim the folders `paths` are written into (`claim_folder`): a killed run's leftovers there are removed,
    another run's files in progress are not."""
    names: dict[Path, set[str]] = {}
    for path in paths:
        names.setdefault(path.parent, set()).add(path.name)
    with ExitStack() as stack:
        for folder, targets in names.items():
            stack.enter_context(claim_folder(folder, targets.__contains__))
        yield


def mask_frame(frame: VideoFrameResult) -> np.ndarray:
    """The colour mask of a frame (Pillow's palette lookup): the default output video frame.

    Args:
        frame: A segmented frame.
    """
    return np.asarray(mask_image(frame.labels, frame.segmentation.colormap).convert("RGB"))


@dataclass(frozen=True)
class VideoRun:
    """What a run over a clip did: frames, wall time, top class counts and the flicker."""

    path: Path
    frames: int
    seconds: float
    top_classes: tuple[tuple[str, int], ...]  # (top non-background class, frames), most frequent first
    flicker: Flicker
    class_names: tuple[str, ...]

    @property
    def fps(self) -> float:
        """Frames per second over the whole run (decode, model, rendering and encoding)."""
        return self.frames / self.seconds if self.seconds else 0.0


def write_video_outputs(
    source: VideoSource,
    model: SegmenterInput = "deeplabv3-starter",
    *,
    out: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    json_lines: TextIO | None = None,
    render: Render = mask_frame,
    overlay: bool = False,
    smooth: float = 0.0,
    limit: int | None = None,
    progress: bool = True,
) -> VideoRun:
    """Segment a clip and write its outputs: `out` video (H.264, same size and rate, no audio),
    one palette PNG per frame in `masks`, one JSON line per frame to `json_lines`.

    The video and the mask folder appear under their names only when the whole clip succeeded.

    Args:
        source: A video file's path, or a sample video's name.
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        out: The output video (`.mp4`, `.m4v`, `.mov` or `.mkv`), or None.
        masks: A folder for one palette PNG per frame (`frame_000000.png`, ...), or None.
        json_lines: A text stream for one JSON line per frame (`VideoFrameResult.to_json`), or None.
        render: Makes each output video frame from a frame's result (default: the colour mask).
        overlay: Decode the full RGB frames that a `render` blending over the video needs.
        smooth: Temporal smoothing weight, as `segment_video`.
        limit: Stop after this many frames.
        progress: Show a progress bar.

    Returns:
        What the run did: frames, time, top classes and flicker.

    Raises:
        VideoError: The `VideoError`s of `segment_video`, before anything is written for unusable input.
        OptionsError: An output video with an unknown extension.
    """
    path = resolve_video(source)
    info = video_info(path)  # bad input fails here, before any output exists
    out_path = check_output_file(out) if out else None
    masks_path = check_output_folder(masks) if masks else None
    segmenter = as_segmenter(model)
    frames = segment_video(
        path,
        segmenter,
        smooth=smooth,
        full_size=bool(out or masks),
        frames=overlay,
        limit=limit,
        progress=progress,
    )
    meter, tops = FlickerMeter(), Counter[str]()
    writer: AbstractContextManager[Any] = VideoWriter(out_path, info.size, info.rate) if out_path else nullcontext()
    folder: AbstractContextManager[Any] = atomic_folder(masks_path) if masks_path else nullcontext()
    claim = claim_outputs(*(p for p in (out_path, masks_path) if p is not None))
    t0 = time.perf_counter()
    with frames, claim, writer as video, folder as mask_dir:  # stopping early closes the decoder and the file
        for frame in frames:
            meter.add(frame.labels)
            classes = [c for c in frame.present_classes() if c.id != 0]
            tops[classes[0].name if classes else frame.segmentation.name_of(0)] += 1
            if video is not None:
                video.write(render(frame))
            if mask_dir is not None:
                mask_image(frame.labels, frame.segmentation.colormap).save(mask_dir / f"frame_{frame.index:06d}.png")
            if json_lines is not None:
                json_lines.write(json.dumps(frame.to_json()) + "\n")
                json_lines.flush()
    flick = meter.result()
    return VideoRun(
        path, flick.frames, time.perf_counter() - t0, tuple(tops.most_common()), flick, segmenter.class_names
    )
