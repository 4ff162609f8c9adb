"""VideoPlayer: plays a video with its segmentation at the clip's frame rate; the browser viewer draws each frame.

Each frame costs the kernel a small payload: the frame as JPEG at display size and the class map as a palette
PNG at the model's resolution. The browser viewer (the photo viewer's `viewer.js`) scales the class map to the
frame and draws mode, opacity, hidden classes, zoom, pan and the hover readout without a kernel round trip.
"""

from __future__ import annotations

import html
import io
import shutil
import tempfile
import threading
import time
import weakref
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
from ..errors import DeeplabWidgetsError, OptionsError
from ..viz.confidence import heat_palette, no_scores_message
from ..viz.render import MODES
from ..workflows.video import VideoFrameResult, VideoInfo, segment_video, video_info
from ..workflows.video.reader import VideoSource
from .app_policy import AppPolicy, current_policy
from .mask_viewer import MaskViewer, download_stem
from .status import error_html
from .upload_button import UploadButton, upload_content
from .viewer_payload import photo_jpeg, quantized_scores

#: Frames in the window the achieved frame rate is averaged over.
FPS_WINDOW = 20
#: JPEG quality of a video frame sent to the browser (a frame on screen for one model run).
FRAME_QUALITY = 75
#: Modes that draw the class probabilities: frames carry scores while one of them is on screen.
HEAT_MODES = ("confidence", "entropy")
#: What the upload button offers: the containers FFmpeg decodes that browsers and phones record.
VIDEO_ACCEPT = "video/*,.mp4,.m4v,.mov,.mkv,.webm,.avi"
#: Playback keeps up when it achieves this share of the clip's frame rate (pacing and timer jitter cost a little).
KEEP_UP = 0.95
#: Frames played before the readout judges whether playback keeps up (the first ones include the decoder's start).
KEEP_UP_FRAMES = 10
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

    Playback runs on a background thread: each frame is decoded, segmented and shown at its time in the clip
    (`realtime`, the default), so the clip plays at its own frame rate when the machine keeps up; when it cannot,
    the frames are shown as fast as decoding, the model and the display allow, and the frame-rate readout says
    the playback is slower than the clip. `realtime=False` plays as fast as they allow ("the model's speed").
    `fps` is the rate achieved. While playing, a progress bar shows how much of the clip is segmented and the
    time left. The slider seeks. **Upload video** segments a video of yours (what FFmpeg decodes: MP4, MOV,
    MKV, WebM, AVI, ...) from its start; in app mode the policy's upload limit applies, as to photos, and frames
    over `app_policy.MAX_APP_VIDEO_PIXELS` (4K). The frame is drawn by a `FrameViewer` (`viewer`), so mode, alpha, the class
    toggles (its legend), zoom, pan and the hover readout never reach the kernel. A paused frame also carries its
    top-3 probabilities (readout, confidence and entropy modes). `smooth` > 0 smooths class probabilities over
    frames while playing. Errors (a bad file) show in the status line; the video on screen stays.

    Traits: `frame` (index on screen), `playing`, `fps`, `realtime`, `keeping_up` (False while playback is slower
    than the clip), `mode`, `alpha`, `hidden` (class ids not coloured).

    Args:
        source: A video file's path, or a sample video's name.
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`); `use` changes it.
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        smooth: Temporal smoothing weight while playing, as `segment_video`'s.
        display_width: Width in pixels of the frames sent to the browser (never more than the video's).
        realtime: Play at the clip's frame rate (True) or as fast as the model allows.
        policy: What an uploaded video may be (default: `current_policy()`, see `app_policy`).
        **kwargs: Widget keywords (e.g. `layout`).
    """

    frame = traitlets.Int(0)
    playing = traitlets.Bool(False)
    fps = traitlets.Float(0.0)
    realtime = traitlets.Bool(True)
    keeping_up = traitlets.Bool(True)
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
        realtime: bool = True,
        policy: AppPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        self.policy = policy or current_policy()
        self.segmenter = as_segmenter(model, options, resize=resize)
        self.source, self.smooth, self.display_width = source, smooth, display_width
        self.info: VideoInfo | None = None
        self.name = ""  # the video's name for the readouts and downloads (an upload's own file name)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._syncing = False
        self._scored = False  # the frame on screen was sent with its probabilities
        self._seeking = False  # show_frame is pausing playback: no re-sending of the old frame
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._uploads: Path | None = None  # the folder uploaded videos are written to, made on the first upload
        self._cleanup: weakref.finalize | None = None

        self.play_button = widgets.ToggleButton(value=False, description="Play", icon="play", layout={"width": "90px"})
        self.play_button.add_class("dlw-video-play")
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="Frame", continuous_update=False)
        self.slider.add_class("dlw-video-frame")
        self.realtime_box = widgets.Checkbox(
            value=realtime, description="real time", indent=False, layout={"width": "auto"},
            tooltip="play at the clip's own frame rate; unticked: as fast as the model allows",
        )  # fmt: skip
        self.realtime_box.add_class("dlw-video-realtime")
        self.fps_label = widgets.HTML("", layout={"margin": "0 0 0 12px"})
        self.fps_label.add_class("dlw-video-fps")
        self.upload = UploadButton(
            "Upload video",
            accept=VIDEO_ACCEPT,
            tooltip="segment a video of yours (MP4, MOV, MKV, WebM, AVI: what FFmpeg decodes)",
            policy=self.policy,
        )
        self.upload.add_class("dlw-video-upload")
        self.about = widgets.HTML("")  # the video and the model
        self.about.add_class("dlw-video-about")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "240px", "visibility": "hidden"})
        self.progress.add_class("dlw-video-progress")
        self.progress_label = widgets.HTML("")
        self.progress_label.add_class("dlw-video-progress-text")
        self.viewer = FrameViewer()
        self.viewer.add_class("dlw-video-viewer")
        self.status = widgets.HTML("")
        self.status.add_class("dlw-video-status")
        row = {"align_items": "center", "flex_flow": "row wrap"}
        super().__init__(
            [
                widgets.HBox([self.upload, self.about], layout=row),
                widgets.HBox([self.play_button, self.slider, self.realtime_box, self.fps_label], layout=row),
                widgets.HBox([self.progress, self.progress_label], layout=row),
                self.viewer,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("dlw-video-player")
        for name in ("mode", "alpha", "hidden"):
            widgets.link((self, name), (self.viewer, name))
        widgets.link((self.play_button, "value"), (self, "playing"))
        widgets.link((self.realtime_box, "value"), (self, "realtime"))
        self.observe(self._on_playing, names="playing")
        self.observe(self._on_mode, names="mode")
        self.slider.observe(self._on_seek, names="value")
        self.upload.observe(self._on_upload, names="value")
        if not self.load(source):
            self.play_button.disabled = self.slider.disabled = True
            self._describe()

    # -- public API ---------------------------------------------------------------------------------

    def load(self, source: VideoSource, name: str | None = None) -> bool:
        """Show another video (a path or sample name) from its first frame; False, with the reason in the status
        line and the video on screen kept, when it cannot be read.

        Args:
            source: A video file's path, or a sample video's name.
            name: What the readouts and downloads call it (default: the file's name).
        """
        try:
            info = video_info(source)
            self.policy.check_video(name or Path(info.path).name, info.width, info.height)
            size = display_size(info, self.display_width)
            first = self._segment(source, size, 0, name)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            return False
        self._pause_quietly()
        self.source, self.info, self.display_size = source, info, size
        self.name = name or Path(info.path).name
        self.play_button.disabled = self.slider.disabled = False
        self._syncing = True
        try:
            self.slider.max = max(0, frame_count(info) - 1)
            self.frame = self.slider.value = 0
        finally:
            self._syncing = False
        self.status.value = ""
        self._describe()
        self._show(first, scores=first.segmentation.scores is not None)
        return True

    def use(
        self, model: SegmenterInput, *, options: RuntimeOptions | None = None, resize: ResizeMode | None = None
    ) -> None:
        """Segment with another model from now on (e.g. the Workbench's, when the Segment tab's choice changes).

        The frame on screen is segmented again with it; playback goes on with it if it was playing.

        Args:
            model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
            options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
            resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        """
        segmenter = as_segmenter(model, options, resize=resize)
        if segmenter is self.segmenter:
            return
        playing = self.playing
        self._pause_quietly()
        self.segmenter = segmenter
        self._describe()
        if self.info is not None:
            self.show_frame(self.frame)
            if playing:
                self.play()

    def show_frame(self, index: int) -> None:
        """Decode, segment and show one frame with its probabilities (pauses playback first).

        Args:
            index: The frame's index.
        """
        self._pause_quietly()
        if self.info is None:
            return
        try:
            shown = self._segment(self.source, self.display_size, index, self.name)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            return
        self.status.value = ""
        self._show(shown, scores=shown.segmentation.scores is not None)

    def play(self) -> None:
        """Start playing from the frame on screen (from the start when at the end)."""
        self.playing = True

    def pause(self) -> None:
        """Stop playing; the frame on screen stays, re-sent with its probabilities when it had none."""
        self.playing = False
        self._stop_thread()

    def close(self) -> None:
        """Stop playback, delete uploaded videos and close the widget."""
        self._stop_thread()
        if self._cleanup is not None:
            self._cleanup()
        self.viewer.close()
        self.upload.close()
        super().close()

    # -- playback -----------------------------------------------------------------------------------

    def _segment(self, source: VideoSource, size: Size, index: int, name: str | None) -> VideoFrameResult:
        """Frame `index` of `source` (called `name`) at `size`, segmented with its probabilities (raises
        `VideoError`s)."""
        with segment_video(
            source, self.segmenter, frames=True, frame_size=size, start=index, limit=1,
            scores=self.segmenter.spec.has_scores, progress=False,
        ) as frames:  # fmt: skip
            shown = next(frames, None)
        if shown is None:  # a container that does not say how many frames it has ends before `index`
            raise OptionsError(f"{name or Path(str(source)).name} ends before frame {index}")
        return shown

    def _pause_quietly(self) -> None:
        """Stop playback without re-sending the frame on screen (what comes next replaces it)."""
        self._seeking = True
        try:
            self.playing = False
            self._stop_thread()
        finally:
            self._seeking = False

    def _stop_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._stop.set()
            thread.join()
        self._thread = None

    def _on_playing(self, change: dict) -> None:
        self.play_button.description, self.play_button.icon = ("Pause", "pause") if change["new"] else ("Play", "play")
        if change["new"] and self.info is None:  # no video (a state the page sent: the button is disabled)
            self.playing = False
            return
        if change["new"] and self._thread is None:
            start = 0 if self.frame >= self.slider.max else self.frame
            self._stop.clear()
            self._times.clear()
            self.keeping_up = True
            self._thread = threading.Thread(target=self._run, args=(start,), name="video-player", daemon=True)
            self._thread.start()
        elif not change["new"]:
            self._stop_thread()
            self.progress.layout.visibility = "hidden"
            self.progress_label.value = ""
            if (
                not (self._seeking or self._scored)
                and self.viewer.result is not None
                and self.segmenter.spec.has_scores
            ):
                self.show_frame(self.frame)  # the paused frame, explorable with its probabilities

    def _run(self, start: int) -> None:
        scores = self.segmenter.spec.has_scores and (self.smooth > 0 or self.mode in HEAT_MODES)
        clock: tuple[float, float] | None = None  # (wall time, clip time) of the first frame shown
        try:  # segment_video checks the file when called: a file gone bad since the last frame fails here
            with segment_video(
                self.source, self.segmenter, frames=True, frame_size=self.display_size, start=start,
                smooth=self.smooth, scores=scores, progress=False,
            ) as frames:  # fmt: skip
                for shown in frames:
                    if self._stop.is_set():
                        return
                    if clock is None:
                        clock = (time.perf_counter(), shown.time)
                    elif self.realtime:  # show it at its time in the clip: never early
                        now = time.perf_counter()
                        wait = clock[0] + (shown.time - clock[1]) - now
                        if wait > 0 and self._stop.wait(wait):
                            return
                        if wait < 0:  # late: go on at the clip's rate from here, never racing to catch up
                            clock = (now, shown.time)
                    self._show(shown, scores=self.mode in HEAT_MODES)
        except DeeplabWidgetsError as exc:
            self._error(exc)
        if not self._stop.is_set():
            if self.info is not None and not self.info.frames:  # the end is known now: the slider stops there
                self._syncing = True
                try:
                    self.slider.max = self.frame
                finally:
                    self._syncing = False
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

    def _on_upload(self, change: dict) -> None:
        """An uploaded video: written to a file of the player's own (PyAV reads files), opened, then played."""
        if not change["new"]:
            return
        item = change["new"][-1]
        self.upload.value = ()  # so that uploading the same file again is seen as a change
        name = str(item["name"])
        try:
            content = upload_content(item, self.policy)
        except DeeplabWidgetsError as exc:
            self._error(f"upload {name}: {exc}")
            return
        previous = self.source
        path = self._store(name, content)
        if not self.load(path, name):
            self.status.value = self.status.value.replace(str(path), name)
            shutil.rmtree(path.parent, ignore_errors=True)
            return
        if self._uploads is not None and Path(str(previous)).parent.parent == self._uploads:
            shutil.rmtree(Path(str(previous)).parent, ignore_errors=True)  # the upload it replaces
        self.play()

    def _store(self, name: str, content: bytes) -> Path:
        """Write an upload to a new folder under the player's own temporary folder; returns its path."""
        if self._uploads is None:
            self._uploads = Path(tempfile.mkdtemp(prefix="dlw-video-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._uploads, True)
        suffix = Path(name).suffix.lower()
        path = Path(tempfile.mkdtemp(dir=self._uploads)) / (download_stem(Path(name).stem) + suffix)
        path.write_bytes(content)
        return path

    # -- display ------------------------------------------------------------------------------------

    def _describe(self) -> None:
        """Say which video and which model are on screen."""
        info = self.info
        video = (
            f"{self.name} · {info.width}x{info.height} · {info.fps:.4g} fps · {info.duration:.1f} s"
            if info is not None
            else "no video"
        )
        self.about.value = f"<span>{html.escape(video)} · model <b>{html.escape(self.segmenter.spec.name)}</b></span>"

    def _show(self, shown: VideoFrameResult, *, scores: bool) -> None:
        """Send a segmented frame to the viewer and update the slider, the progress and the frame-rate readout."""
        image = shown.image if shown.image is not None else np.zeros((*self.display_size, 3), np.uint8)
        with self._lock:
            sent = scores and shown.segmentation.scores is not None
            self.viewer.show_frame(
                image, shown.segmentation, name=f"{Path(self.name).stem}_frame{shown.index:06d}", scores=sent,
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
        rate = ""
        if self.playing and len(self._times) > 1:
            rate = f"{self.fps:.1f} fps · "
            if self.realtime and self.info is not None and len(self._times) >= KEEP_UP_FRAMES:
                self.keeping_up = self.fps >= KEEP_UP * self.info.fps
                rate += "real time · " if self.keeping_up else (
                    f"slower than real time (the clip has {self.info.fps:.4g} fps) · "
                )  # fmt: skip
        self.fps_label.value = html.escape(
            f"{rate}model {t.invoke_ms:.1f} ms · frame {shown.index} at {shown.time:.2f} s"
        )
        if self.playing:
            self._show_progress(shown.index)

    def _show_progress(self, index: int) -> None:
        """How much of the clip is segmented, and the time left at the rate achieved."""
        total = max(frame_count(self.info), index + 1) if self.info is not None else 0
        if not total:
            self.progress_label.value = html.escape(f"segmented up to frame {index}")
            return
        self.progress.max, self.progress.value = total, index + 1
        self.progress.layout.visibility = "visible"
        left = f" · about {(total - index - 1) / self.fps:.0f} s left" if self.fps > 0 else ""
        self.progress_label.value = html.escape(f"segmented {index + 1} of {total} frames{left}")

    def _error(self, exc: BaseException | str) -> None:
        self.status.value = error_html(str(exc))


def frame_count(info: VideoInfo) -> int:
    """The video's frames: as its container declares, else estimated from its duration and frame rate.

    Args:
        info: The video.
    """
    return info.frames or round(info.duration * info.fps)


def display_size(info: VideoInfo, width: int) -> Size:
    """The size of the frames sent to the browser: `width` pixels wide at most, the video's aspect ratio.

    Args:
        info: The video.
        width: The most pixels across.
    """
    scale = min(1.0, width / info.width)
    return Size(max(2, round(info.height * scale)), max(2, round(info.width * scale)))
