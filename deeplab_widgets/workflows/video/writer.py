"""Writing a video with PyAV (H.264 in MP4 by default), atomically: a temp file renamed at the end."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from ...core.export import atomic_path
from ...core.size import Size
from ...errors import OptionsError

#: Container format per file extension.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
#: libx264 settings: the fastest preset, for larger files than "veryfast" (benchmarks/RESULTS.md, "Video"); CRF 23
#: is libx264's default quality.
X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}


class VideoWriter:
    """Encodes RGB frames to an H.264 video of a fixed size and frame rate.

    Used as a context manager: frames go to a hidden temporary file beside `path`, which replaces
    `path` only when the block ends without an exception; an interrupted or failed run leaves nothing
    under the final name. Frames of odd width/height are scaled to even ones (H.264 4:2:0 needs them).

    Args:
        path: The output file (`.mp4`, `.m4v`, `.mov` or `.mkv`).
        size: The frame size (odd sides are rounded up to even ones for H.264).
        rate: Frames per second (an exact `Fraction` keeps the source's rate).
    """

    def __init__(self, path: str | os.PathLike, size: Size, rate: float | Fraction) -> None:
        self.path = Path(path)
        fmt = CONTAINERS.get(self.path.suffix.lower())
        if fmt is None:
            raise OptionsError(f"cannot write video {self.path.name}: use one of {', '.join(CONTAINERS)}")
        self.format = fmt
        self.size = size
        self.rate = Fraction(rate).limit_denominator(100_000)
        self.frames = 0
        self._atomic: Any = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        height, width = self.size
        try:
            self._container = av.open(str(tmp), "w", format=self.format)
            stream = self._container.add_stream("libx264", rate=self.rate, options=dict(X264_OPTIONS))
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            self._stream = stream
        except BaseException as exc:
            self._abort(exc)
            raise
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Append one H x W x 3 uint8 RGB frame.

        Args:
            rgb: One H x W x 3 uint8 RGB frame.
        """
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(width=self._stream.width, height=self._stream.height, format="yuv420p")
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self._abort(exc)
            return
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except BaseException as error:
            self._abort(error)
            raise
        self._atomic.__exit__(None, None, None)

    def _abort(self, exc: BaseException) -> None:
        """Close the container and delete the temporary file."""
        if self._container is not None:
            with contextlib.suppress(Exception):  # the temp file goes anyway
                self._container.close()
        self._atomic.__exit__(type(exc), exc, exc.__traceback__)
