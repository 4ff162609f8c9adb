"""VideoPlayer: plays a video with its segmentation at the model's speed (play/pause, seek, display options)."""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image

from ..core.model import ModelInput
from ..core.segmenter import Segmenter
from ..errors import DeeplabWidgetsError
from ..viz.legend import legend_entries, legend_html
from ..viz.render import DISPLAY_FORMAT, MODES, DisplayOptions, Renderer, encode
from ..workflows.video import VideoFrameResult, segment_video, video_info
from ..workflows.video.reader import VideoSource

#: Frames in the window the achieved frame rate is averaged over.
FPS_WINDOW = 20


class VideoPlayer(widgets.VBox):
    """Plays `source` (a video path or sample name, default the cockatoo clip) segmented frame by frame.

    Playback runs on a background thread as fast as decoding + the model + display allow (no fixed
    frame rate: "the model's speed"); `fps` is what it achieves. The slider seeks; mode, alpha and
    the class toggles only re-render the frame on screen, never re-run the model. `smooth` > 0 smooths
    class probabilities over frames while playing. Errors (a bad file) show in the status line.

    Traits: `frame` (index on screen), `playing`, `fps`, `mode`, `alpha`, `hidden` (class ids not coloured).
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
        model: ModelInput | Segmenter = "deeplabv3-starter",
        *,
        smooth: float = 0.0,
        display_width: int = 640,
        **kwargs: Any,
    ) -> None:
        self.segmenter = model if isinstance(model, Segmenter) else Segmenter(model)
        self.source, self.smooth = source, smooth
        self.renderer = Renderer()
        self._current: tuple[Image.Image, Any] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._syncing = False
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._toggles: dict[int, widgets.ToggleButton] = {}

        self.play_button = widgets.ToggleButton(value=False, description="Play", icon="play", layout={"width": "90px"})
        self.play_button.add_class("dlw-video-play")
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="Frame", continuous_update=False)
        self.slider.add_class("dlw-video-frame")
        self.fps_label = widgets.HTML("")
        self.fps_label.add_class("dlw-video-fps")
        self.mode_buttons = widgets.ToggleButtons(options=list(MODES), value="overlay", style={"button_width": "92px"})
        self.mode_buttons.add_class("dlw-mode")
        self.alpha_slider = widgets.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="Alpha")
        self.alpha_slider.add_class("dlw-alpha")
        self.display_image = widgets.Image(format=DISPLAY_FORMAT, layout={"width": "100%", "height": "auto"})
        self.display_image.add_class("dlw-video-image")
        self.status = widgets.HTML("")
        self.status.add_class("dlw-video-status")
        self.class_toggles = widgets.HBox(layout={"flex_flow": "row wrap"})
        self.class_toggles.add_class("dlw-classes")
        self.legend = widgets.HTML("")
        self.legend.add_class("dlw-legend")
        super().__init__(
            [
                widgets.HBox([self.play_button, self.slider, self.fps_label], layout={"align_items": "center"}),
                widgets.HBox([self.mode_buttons, self.alpha_slider], layout={"flex_flow": "row wrap"}),
                self.display_image,
                self.status,
                self.class_toggles,
                self.legend,
            ],
            **kwargs,
        )
        self.add_class("dlw-video-player")
        widgets.link((self.mode_buttons, "value"), (self, "mode"))
        widgets.link((self.alpha_slider, "value"), (self, "alpha"))
        widgets.link((self.play_button, "value"), (self, "playing"))
        self.observe(self._render_current, names=["mode", "alpha", "hidden"])
        self.observe(self._on_playing, names="playing")
        self.slider.observe(self._on_seek, names="value")
        try:
            info = video_info(source)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            self.play_button.disabled = self.slider.disabled = True
            return
        self.info = info
        scale = min(1.0, display_width / info.width)
        self.display_size = (max(2, round(info.width * scale)), max(2, round(info.height * scale)))
        self.slider.max = max(0, info.frames - 1)
        self.show_frame(0)

    # -- public API ---------------------------------------------------------------------------------

    def show_frame(self, index: int) -> None:
        """Decode, segment and show one frame (pauses playback first)."""
        self.pause()
        try:
            frames = segment_video(
                self.source, self.segmenter, frames=True, frame_size=self.display_size, start=index, limit=1,
                progress=False,
            )  # fmt: skip
            shown = next(iter(frames), None)
        except DeeplabWidgetsError as exc:
            self._error(exc)
            return
        if shown is not None:
            self._show(shown)

    def play(self) -> None:
        """Start playing from the frame on screen (from the start when at the end)."""
        self.playing = True

    def pause(self) -> None:
        """Stop playing; the last frame stays on screen."""
        self.playing = False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._stop.set()
            thread.join()
        self._thread = None

    def close(self) -> None:
        """Stop playback and close the widget."""
        self.pause()
        super().close()

    # -- playback -----------------------------------------------------------------------------------

    def _on_playing(self, change: dict) -> None:
        self.play_button.description, self.play_button.icon = ("Pause", "pause") if change["new"] else ("Play", "play")
        if change["new"] and self._thread is None:
            start = 0 if self.frame >= self.slider.max else self.frame
            self._stop.clear()
            self._times.clear()
            self._thread = threading.Thread(target=self._run, args=(start,), name="video-player", daemon=True)
            self._thread.start()
        elif not change["new"]:
            self.pause()

    def _run(self, start: int) -> None:
        frames = segment_video(
            self.source, self.segmenter, frames=True, frame_size=self.display_size, start=start,
            smooth=self.smooth, progress=False,
        )  # fmt: skip
        try:
            for shown in frames:
                if self._stop.is_set():
                    return
                self._show(shown)
        except DeeplabWidgetsError as exc:
            self._error(exc)
        finally:
            frames.close()
        if not self._stop.is_set():
            self._thread = None
            self.playing = False

    def _on_seek(self, change: dict) -> None:
        if self._syncing or change["new"] == self.frame:
            return
        if self.playing:
            self.pause()
            self.frame = change["new"]
            self.play()
        else:
            self.show_frame(change["new"])

    # -- display ------------------------------------------------------------------------------------

    def _show(self, shown: VideoFrameResult) -> None:
        """Put a segmented frame on screen: the class map is scaled to the display picture."""
        w, h = self.display_size
        image = Image.fromarray(shown.image) if shown.image is not None else Image.new("RGB", (w, h))
        labels = np.asarray(Image.fromarray(shown.labels).resize((w, h), Image.Resampling.NEAREST))
        labels.setflags(write=False)
        result = replace(shown.segmentation, labels=labels, scores=None)
        with self._lock:
            self._current = (image, result)
            self._times.append(time.perf_counter())
            self._syncing = True
            try:
                self.frame = self.slider.value = shown.index
            finally:
                self._syncing = False
            self._update_toggles(result)
            self._render_current()
        if len(self._times) > 1:
            self.fps = (len(self._times) - 1) / (self._times[-1] - self._times[0])
        t = shown.timings
        rate = f"{self.fps:.1f} fps · " if self.playing and len(self._times) > 1 else ""
        self.fps_label.value = html.escape(
            f"{rate}model {t.invoke_ms:.1f} ms · frame {shown.index} at {shown.time:.2f} s"
        )

    def _render_current(self, _: Any = None) -> None:
        if self._current is None:
            return
        image, result = self._current
        rendered = self.renderer.render(image, result, DisplayOptions(self.mode, self.alpha, frozenset(self.hidden)))
        self.display_image.value = encode(rendered.image)
        self.status.value = html.escape(rendered.note) if rendered.note else ""
        self.legend.value = legend_html(legend_entries(result, self.hidden))

    def _update_toggles(self, result: Any) -> None:
        """One toggle per class seen so far (created on its first appearance, then kept)."""
        new = [c for c in result.present_classes() if c.id not in self._toggles]
        if not new:
            return
        for c in new:
            color = "#{:02x}{:02x}{:02x}".format(*(int(v) for v in result.colormap[c.id]))
            toggle = widgets.ToggleButton(
                value=c.id not in self.hidden, description=c.name, icon="eye", layout={"width": "auto"},
                style={"text_color": color}, tooltip=f"show or hide {c.name}",
            )  # fmt: skip
            toggle.add_class(f"dlw-class-{c.id}")
            toggle.observe(lambda change, cid=c.id: self._on_toggle(cid, change["new"]), names="value")
            self._toggles[c.id] = toggle
        self.class_toggles.children = [self._toggles[k] for k in sorted(self._toggles)]

    def _on_toggle(self, class_id: int, visible: bool) -> None:
        self._toggles[class_id].icon = "eye" if visible else "eye-slash"
        hidden = set(self.hidden)
        (hidden.discard if visible else hidden.add)(class_id)
        self.hidden = tuple(sorted(hidden))

    def _error(self, exc: BaseException) -> None:
        self.status.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
