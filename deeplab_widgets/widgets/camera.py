"""CameraSegmenter: live webcam segmentation in the browser (anywidget), the model in the kernel.

The browser captures the camera with `getUserMedia`, sends one downscaled JPEG at a time as a
custom message, and draws the class map it gets back over the live video; frames that arrive while
the kernel is busy are dropped in the browser, never queued. The overlay (alpha, hidden classes) is
drawn by the browser: changing it costs no round trip.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..core.images import load_image
from ..core.preprocess import ResizeMode
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmenterInput, as_segmenter
from ..errors import DeeplabWidgetsError
from .app_policy import AppPolicy, current_policy

STATIC = Path(__file__).parent / "static"
#: The most pixels a frame may have (the page sends frames `width` <= 1920 wide).
MAX_FRAME_PIXELS = 1920 * 1920


class CameraSegmenter(anywidget.AnyWidget):
    """Segments the webcam live. Press "Start camera" (or pass `autostart=True`).

    Traits: `width` (pixels of the frames sent to the kernel), `alpha`, `hidden` (class ids not drawn),
    `classes` (names in the last frame, largest first), `frames` (frames segmented), `invoke_ms`;
    reported by the browser: `fps` (replies per second), `rtt_ms` (round trip of the last frame) and
    `status` (e.g. why the camera could not start).

    Args:
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        **kwargs: Trait values (`width`, `alpha`, `hidden`, `autostart`) and widget keywords.
    """

    _esm = STATIC / "camera.js"
    width = traitlets.Int(320, min=32, max=1920).tag(sync=True)
    alpha = traitlets.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    hidden = traitlets.List(traitlets.Int()).tag(sync=True)
    autostart = traitlets.Bool(False).tag(sync=True)
    palette: traitlets.List[list[int]] = traitlets.List().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    fps = traitlets.Float(0.0).tag(sync=True)
    rtt_ms = traitlets.Float(0.0).tag(sync=True)
    classes = traitlets.List(traitlets.Unicode())
    frames = traitlets.Int(0)
    invoke_ms = traitlets.Float(0.0)

    def __init__(
        self,
        model: SegmenterInput = "deeplabv3-starter",
        *,
        options: RuntimeOptions | None = None,
        resize: ResizeMode | None = None,
        policy: AppPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        """`policy` limits what a frame from the browser may be (default: `current_policy()`, see `app_policy`)."""
        self.policy = policy or current_policy()
        self.segmenter = as_segmenter(model, options, resize=resize)
        super().__init__(**kwargs)
        self._busy = threading.Lock()
        self.use(self.segmenter)
        self.on_msg(self._on_frame)

    def __repr__(self) -> str:
        # What a page without a live kernel shows in the widget's place (Jupyter's text fallback).
        return (
            f"CameraSegmenter({self.segmenter.spec.name}, {self.width} px frames): a live camera widget; "
            "it needs a browser with a camera and a running kernel"
        )

    def use(
        self, model: SegmenterInput, *, options: RuntimeOptions | None = None, resize: ResizeMode | None = None
    ) -> None:
        """Segment the next frames with another model (e.g. the Workbench's, when the Segment tab's choice changes).

        Args:
            model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
            options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
            resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        """
        with self._busy:  # not while a frame is being segmented with the old one
            self.segmenter = as_segmenter(model, options, resize=resize)
            self.palette = np.asarray(self.segmenter.spec.labels.colormap, np.uint8)[:256].tolist()

    def segment_jpeg(self, data: bytes) -> tuple[dict[str, Any], bytes]:
        """Segment one encoded frame; returns the reply message and the class map bytes (H x W uint8).

        The frame is whatever the page sent: the policy's upload limit applies, and one over `MAX_FRAME_PIXELS`
        is refused before it is decoded (`UploadTooLargeError`, `ImageTooLargeError`).

        Args:
            data: One encoded frame (JPEG bytes) from the browser.
        """
        self.policy.check_upload("camera frame", len(data))
        image = load_image(data, max_pixels=MAX_FRAME_PIXELS)
        result = self.segmenter.segment(image)
        classes = [{"id": c.id, "name": c.name, "fraction": round(c.fraction, 4)} for c in result.present_classes()]
        h, w = result.labels.shape
        reply = {"type": "classmap", "width": w, "height": h, "classes": classes, "invoke_ms": result.timings.invoke_ms}
        return reply, np.ascontiguousarray(result.labels).tobytes()

    def _on_frame(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "frame" or not buffers:
            return
        if not self._busy.acquire(blocking=False):
            return  # the browser sends one at a time; a duplicate while busy is dropped
        try:
            t0 = time.perf_counter()
            try:
                reply, labels = self.segment_jpeg(bytes(buffers[0]))
            except (DeeplabWidgetsError, OSError) as exc:
                self.send({"type": "classmap", "id": content.get("id"), "error": str(exc), "classes": [],
                           "invoke_ms": (time.perf_counter() - t0) * 1e3})  # fmt: skip
                return
            reply["id"] = content.get("id")
            self.send(reply, buffers=[labels])
            self.frames += 1
            self.invoke_ms = reply["invoke_ms"]
            self.classes = [c["name"] for c in reply["classes"]]
        finally:
            self._busy.release()
