"""VideoPlayer: plays a video with its segmentation at the model's speed; the browser viewer draws each frame.

Each frame costs the kernel a small payload: the frame as JPEG at display size and the class map as a palette
PNG at the model's resolution. The browser viewer (the photo viewer's `viewer.js`) scales the class map to the
frame and draws mode, opacity, hidden classes, zoom, pan and the hover readout without a kernel round trip.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image

from ..core.export import mask_image
from ..core.preprocess import ResizeMode
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmentationResult, SegmenterInput, as_segmenter
from ..core.size import Size
from ..errors import DeeplabWidgetsError
from ..viz.confidence import heat_palette, no_scores_message
from ..viz.render import MODES
from ..workflows.video import VideoFrameResult, segment_video, video_info
from ..workflows.video.reader import VideoSource
from .mask_viewer import MaskViewer, download_stem
from .viewer_payload import photo_jpeg, quantized_scores

#: Frames in the window the achieved frame rate is averaged over.
FPS_WINDOW = 20
#: JPEG quality of a video frame sent to the browser (a frame on screen for one model run).
FRAME_QUALITY = 75
#: Modes that draw the class probabilities: frames carry scores while one of them is on screen.
HEAT_MODES = ("confidence", "entropy")
#: Shown in a heat mode for a frame played without its probabilities.
PLAYED_NOTE = (
    "This frame was played without its probabilities: pause to see confidence and entropy, or choose the mode "
    "before pressing Play."
)


class FrameViewer(MaskViewer):
    """The browser viewer for video frames: the frame at display size, its class map at the model's resolution.

    `show_frame` sends the two images (and the probabilities when asked); colours, class names and the heat
    palette go to the browser once, as they do not change between frames. The browser scales the class map to
    the frame (nearest neighbour), so the hover readout names the class under the pointer. `result` holds the
    frame's `SegmentationResult` (class map at the model's resolution); `image` stays None.
    """

    def show_frame(
        self, frame: np.ndarray, result: SegmentationResult, *, name: str, scores: bool = False, note: str = ""
    ) -> None:
        """Show one frame and its result.

        Args:
            frame: H x W x 3 uint8 RGB, at display size.
            result: The frame's segmentation (class map at the model's resolution).
            name: The stem of the downloaded files' names.
            scores: Also send the top-3 probabilities (the result must have scores).
            note: Shown in the confidence and entropy modes when the frame comes without probabilities.
        """
        probs = result.scores if scores else None
        self._batch = True
        try:
            self.result = result
        finally:
            self._batch = False
        with self.hold_sync():
            self.photo = photo_jpeg(Image.fromarray(frame), FRAME_QUALITY)
            self.mask_png = frame_mask_png(result)
            self._set_class_colors(result)  # sent only when they change
            if not self.heat_palette:
                self.heat_palette = heat_palette("magma")
            self.scores = quantized_scores(probs) if probs is not None else b""
            self.score_shape = list(probs.shape) if probs is not None else [0, 0, 0]
            self.note = "" if probs is not None else note or no_scores_message(result)
            self.download_name = download_stem(name)
            self.revision += 1


def frame_mask_png(result: SegmentationResult) -> bytes:
    """The class map as a palette PNG (pixel value = class id) at zlib level 1, which encodes much faster than
    Pillow's default level for somewhat more bytes (benchmarks/RESULTS.md, "Batch").

    Args:
        result: The frame's segmentation.
    """
    buffer = io.BytesIO()
    mask_image(result.labels, result.colormap).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class VideoPlayer(widgets.VBox):
    """Plays `source` (a video path or sample name, default the cockatoo clip) segmented frame by frame.

    Playback runs on a background thread as fast as decoding + the model + display allow (no fixed
    frame rate: "the model's speed"); `fps` is what it achieves. The slider seeks. The frame is drawn by a
    `FrameViewer` (`viewer`), so mode, alpha, the class toggles (its legend), zoom, pan and the hover readout
    never reach the kernel. A paused frame also carries its top-3 probabilities (readout, confidence and
    entropy modes). `smooth` > 0 smooths class probabilities over frames while playing. Errors (a bad file)
    show in the status line.

    Traits: `frame` (index on screen), `playing`, `fps`, `mode`, `alpha`, `hidden` (class ids not coloured).

    Args:
        source: A video file's path, or a sample video's name.
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        smooth: Temporal smoothing weight while playing, as `segment_video`'s.
        display_width: Width in pixels of the frames sent to the browser (never more than the video's).
        **kwargs: Widget keywords (e.g. `layout`).
    """

    frame = traitlets.Int(0)
    playing = traitlets.Bool(False)
    fps = traitlets.Float(0.0)
    mode = traitlets.Enum(MODES, default_value="overlay")
    alpha = traitlets.Float(0.6, min=0.0, max=1.0)
    hidden = traitlets.Tuple()

    def __init__(
        self,
        source: VideoSource = "cockatoo",
        model: SegmenterInput = "deeplabv3-starter",
        *,
        options: RuntimeOptions | None = None,
        resize: ResizeMode | None = None,
        smooth: float = 0.0,
        display_width: int = 640,
        **kwargs: Any,
    ) -> None:
        self.segmenter = as_segmenter(model, options, resize=resize)
        self.source, self.smooth = source, smooth
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._syncing = False
        self._scored = False  # the frame on screen was sent with its probabilities
        self._seeking = False  # show_frame is pausing playback: no re-sending of the old frame
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)

        self.play_button = widgets.ToggleButton(value=False, description="Play", icon="play", layout={"width": "90px"})
        self.play_button.add_class("dlw-video-play")
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="Frame", continuous_update=False)
        self.slider.add_class("dlw-video-frame")
        self.fps_label = widgets.HTML("")
        self.fps_label.add_class("dlw-video-fps")
        self.viewer = FrameViewer()
        self.viewer.add_class("dlw-video-viewer")
        self.status = widgets.HTML("")
        self.status.add_class("dlw-video-status")
        super().__init__(
            [
                widgets.HBox([self.play_button, self.slider, self.fps_label], layout={"align_items": "center"}),
                self.viewer,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("dlw-video-player")
        for name in ("mode", "alpha", "hidden"):
            widgets.link((self, name), (self.viewer, name))
        widgets.link((self.play_button, "value"), (self, "playing"))
        self.observe(self._on_playing, names="playing")
        self.observe(self._on_mode, names="mode")
        self.slider.observe(self._on_seek, names="value")
        try:
            info = video_info(source)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            self.play_button.disabled = self.slider.disabled = True
            return
        self.info = info
        scale = min(1.0, display_width / info.width)
        self.display_size = Size(max(2, round(info.height * scale)), max(2, round(info.width * scale)))
        self.slider.max = max(0, info.frames - 1)
        self.show_frame(0)

    # -- public API ---------------------------------------------------------------------------------

    def show_frame(self, index: int) -> None:
        """Decode, segment and show one frame with its probabilities (pauses playback first).

        Args:
            index: The frame's index.
        """
        self._seeking = True
        try:
            self.playing = False
            self._stop_thread()
        finally:
            self._seeking = False
        want_scores = self.segmenter.spec.has_scores
        try:
            with segment_video(
                self.source, self.segmenter, frames=True, frame_size=self.display_size, start=index, limit=1,
                scores=want_scores, progress=False,
            ) as frames:  # fmt: skip
                shown = next(frames, None)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            return
        if shown is not None:
            self.status.value = ""
            self._show(shown, scores=want_scores)

    def play(self) -> None:
        """Start playing from the frame on screen (from the start when at the end)."""
        self.playing = True

    def pause(self) -> None:
        """Stop playing; the frame on screen stays, re-sent with its probabilities when it had none."""
        self.playing = False
        self._stop_thread()

    def close(self) -> None:
        """Stop playback and close the widget."""
        self._stop_thread()
        self.viewer.close()
        super().close()

    # -- playback -----------------------------------------------------------------------------------

    def _stop_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._stop.set()
            thread.join()
        self._thread = None

    def _on_playing(self, change: dict) -> None:
        self.play_button.description, self.play_button.icon = ("Pause", "pause") if change["new"] else ("Play", "play")
        if change["new"] and self._thread is None:
            start = 0 if self.frame >= self.slider.max else self.frame
            self._stop.clear()
            self._times.clear()
            self._thread = threading.Thread(target=self._run, args=(start,), name="video-player", daemon=True)
            self._thread.start()
        elif not change["new"]:
            self._stop_thread()
            if (
                not (self._seeking or self._scored)
                and self.viewer.result is not None
                and self.segmenter.spec.has_scores
            ):
                self.show_frame(self.frame)  # the paused frame, explorable with its probabilities

    def _run(self, start: int) -> None:
        scores = self.segmenter.spec.has_scores and (self.smooth > 0 or self.mode in HEAT_MODES)
        try:  # segment_video checks the file when called: a file gone bad since the last frame fails here
            with segment_video(
                self.source, self.segmenter, frames=True, frame_size=self.display_size, start=start,
                smooth=self.smooth, scores=scores, progress=False,
            ) as frames:  # fmt: skip
                for shown in frames:
                    if self._stop.is_set():
                        return
                    self._show(shown, scores=self.mode in HEAT_MODES)
        except DeeplabWidgetsError as exc:
            self._error(exc)
        if not self._stop.is_set():
            self._thread = None
            self.playing = False

    def _on_seek(self, change: dict) -> None:
        if self._syncing or change["new"] == self.frame:
            return
        if self.playing:
            self._stop_thread()
            self.frame = change["new"]
            self._on_playing({"new": True})
        else:
            self.show_frame(change["new"])

    def _on_mode(self, change: dict) -> None:
        """A heat mode on a paused frame sent without probabilities: send them (one model run)."""
        if change["new"] in HEAT_MODES and not self.playing and not self._scored and self.viewer.result is not None:
            self.show_frame(self.frame)

    # -- display ------------------------------------------------------------------------------------

    def _show(self, shown: VideoFrameResult, *, scores: bool) -> None:
        """Send a segmented frame to the viewer and update the slider and the frame-rate readout."""
        image = shown.image if shown.image is not None else np.zeros((*self.display_size, 3), np.uint8)
        with self._lock:
            sent = scores and shown.segmentation.scores is not None
            self.viewer.show_frame(
                image, shown.segmentation, name=f"{Path(self.info.path).stem}_frame{shown.index:06d}", scores=sent,
                note=PLAYED_NOTE if self.segmenter.spec.has_scores else "",
            )  # fmt: skip
            self._scored = sent
            self._times.append(time.perf_counter())
            self._syncing = True
            try:
                self.frame = self.slider.value = shown.index
            finally:
                self._syncing = False
        if len(self._times) > 1:
            self.fps = (len(self._times) - 1) / (self._times[-1] - self._times[0])
        t = shown.timings
        rate = f"{self.fps:.1f} fps · " if self.playing and len(self._times) > 1 else ""
        self.fps_label.value = html.escape(
            f"{rate}model {t.invoke_ms:.1f} ms · frame {shown.index} at {shown.time:.2f} s"
        )

    def _error(self, exc: BaseException) -> None:
        self.status.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
