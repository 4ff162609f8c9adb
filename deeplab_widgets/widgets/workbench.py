"""Workbench: picker, runtime controls, mask viewer and timings composed into one app.

The model runs only when the image, the model or the runtime options change; display changes go
to the MaskViewer, which re-renders the cached result. Errors go to the status line and the last
good result stays on screen.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
from PIL import Image

from ..assets.samples import list_samples
from ..assets.zoo import DATASETS, model_info
from ..core.images import ImageInput
from ..core.model import ModelSpec, load_model
from ..core.runtime import RuntimeOptions
from ..core.segmenter import Scores, SegmentationResult, Segmenter, SegmenterInput, as_segmenter
from ..errors import DeeplabWidgetsError
from ..viz.render import DEFAULT_ALPHA
from .app_policy import AppPolicy, current_policy
from .camera import CameraSegmenter
from .compare_view import CompareView
from .image_picker import ImagePicker
from .mask_viewer import MaskViewer, SameObject
from .quantize_panel import QuantizePanel
from .runtime_controls import RuntimeControls
from .status import error_html, error_text
from .stride_explorer import OutputStrideExplorer
from .timing_panel import TimingPanel
from .timing_readout import TimingReadout
from .video_player import VideoPlayer

#: The tabs, in order.
TABS = ("Segment", "Compare", "Benchmark", "Video", "Camera", "Output stride", "Quantize")
COMPARE_TAB, VIDEO_TAB, CAMERA_TAB, STRIDE_TAB = (
    TABS.index(t) for t in ("Compare", "Video", "Camera", "Output stride")
)
#: Above the Video and Camera tabs: which model they use.
FOLLOWS = "{what} uses the model chosen in the Segment tab: <b>{model}</b>."


def fill_tooltips(root: widgets.Widget) -> None:
    """Give every described control without a tooltip its description as tooltip (or an empty one).

    ipywidgets 8 otherwise renders `title="null"` on those controls and their labels.

    Args:
        root: The widget tree's root.
    """
    stack = [root]
    while stack:
        widget = stack.pop()
        stack.extend(getattr(widget, "children", ()))
        if getattr(widget, "tooltip", "") is None and widget.has_trait("description"):
            widget.tooltip = widget.description or ""


class Workbench(widgets.VBox):
    """The whole app: `Workbench()` opens with the starter model and a sample photo already segmented.

    Observe `result` (the last good `SegmentationResult`) and `image` (its photo).

    Args:
        model: The model chosen first: a zoo id, or a `.tflite` path, its bytes or a `Segmenter` (see
            `RuntimeControls`).
        image: A sample name or anything `load_image` reads (None: no photo yet).
        options: The initial runtime options (default: the segmenter's, or `RuntimeOptions()`).
        resize: The initial resize mode (default: each model's measured best mode).
        mode: The viewer's display mode (one of `viz.MODES`).
        alpha: The viewer's opacity of the class colours, 0 to 1.
        policy: What visitors may do in app mode (default: `current_policy()`).
        **kwargs: Widget keywords (e.g. `layout`).
    """

    result = SameObject(SegmentationResult, allow_none=True)
    image = SameObject(Image.Image, allow_none=True)

    def __init__(
        self,
        model: SegmenterInput = "deeplabv3-starter",
        image: ImageInput | None = "cat",
        options: RuntimeOptions | None = None,
        *,
        resize: str | None = None,
        mode: str = "overlay",
        alpha: float = DEFAULT_ALPHA,
        policy: AppPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        self.policy = policy or current_policy()
        self.source = ""  # where the photo on screen came from (the status line names it)
        self.segmenters: dict[tuple, Segmenter] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._shown: tuple | None = None  # the controls' (model, options, resize) of the result on screen
        self.status = widgets.HTML()
        self.status.add_class("dlw-status")
        self.picker = ImagePicker(value=None, policy=self.policy)
        self.controls = RuntimeControls(model, options, resize, policy=self.policy)
        if isinstance(model, Segmenter):  # its loaded model, so that choosing it costs no second load
            self._specs[model.spec.name] = model.spec
        self.viewer = MaskViewer(mode=mode, alpha=alpha, layout={"flex": "3 1 600px", "min_width": "300px"})
        self.viewer.add_class("dlw-main-viewer")
        self.timing = TimingReadout()
        self.repeat_button = widgets.Button(description="time 10 runs", tooltip="run the model 10 more times")
        self.repeat_button.add_class("dlw-repeat")
        self.repeat_button.on_click(lambda _: self.repeat(10))
        side = widgets.VBox(
            [self.controls, self.timing, self.repeat_button], layout={"flex": "1 1 420px", "min_width": "280px"}
        )
        self.timing_panel = TimingPanel(policy=self.policy)
        segment_view = widgets.VBox(
            [self.picker, widgets.HBox([self.viewer, side], layout={"flex_flow": "row wrap"}), self.status]
        )
        self.compare = CompareView(policy=self.policy)
        self.comparing = False  # the Compare tab runs its second model only once it has been opened
        compare_view = widgets.VBox([self.picker, self.compare])
        compare_view.add_class("dlw-compare-tab")
        self.video_note = widgets.HTML()
        self.video_note.add_class("dlw-video-model")
        self.video_view = widgets.VBox([widgets.HTML("loading the video player...")])
        self.video: VideoPlayer | None = None  # built when the Video tab is first opened (it decodes and segments)
        self.camera_note = widgets.HTML()
        self.camera_note.add_class("dlw-camera-model")
        self.camera_view = widgets.VBox([widgets.HTML("loading the camera...")])
        self.camera: CameraSegmenter | None = None  # built when the Camera tab is first opened
        self.stride_view = widgets.VBox([widgets.HTML("deriving the model at another output stride...")])
        self.stride_explorer: OutputStrideExplorer | None = None  # built when its tab is first opened
        self._stride_shown: tuple | None = None  # the (model, photo) the Output stride tab last showed
        self.quantize_panel = QuantizePanel(self.controls, policy=self.policy)
        self.tabs = widgets.Tab(
            [
                segment_view,
                compare_view,
                self.timing_panel,
                widgets.VBox([self.video_note, self.video_view]),
                widgets.VBox([self.camera_note, self.camera_view]),
                self.stride_view,
                self.quantize_panel,
            ],
            titles=TABS,
        )
        super().__init__([self.tabs], **kwargs)
        self.add_class("dlw-workbench")
        fill_tooltips(self)
        self.tabs.observe(self._on_tab, names="selected_index")
        self.picker.observe(self._on_image, names="image")
        self.picker.observe(self._on_error, names="error")
        self.controls.observe(self._on_error, names="error")
        self.controls.observe(self._on_controls, names=["model", "options", "resize", "labels_changed"])
        if isinstance(image, str) and image in self.picker.buttons:
            self.picker.select(image)
        elif image is not None:
            self.picker.load(image, "image")

    @property
    def segmenter(self) -> Segmenter:
        """The Segmenter for the chosen model, options and resize mode (cached, so toggling is cheap).

        Every tab that runs the chosen model (Segment, Video) gets it here, after the policy's checks: raises
        `AccessDeniedError` for a model path or delegate app mode refuses, whatever the widgets' state says.
        """
        model, options, resize = key = self._controls_key()
        self.policy.check_options(options)
        segmenter = self.segmenters.get(key)
        if segmenter is None:
            spec = self._specs.get(model)
            if spec is None:
                source = self.policy.check_model(self.controls.model_source())
                spec = source if isinstance(source, ModelSpec) else load_model(source, options=options)
                self._specs[model] = spec
            segmenter = self.segmenters[key] = as_segmenter(spec, options, resize=resize)
        return segmenter

    @property
    def invocations(self) -> int:
        """Model runs so far, over every Segmenter this workbench made."""
        return sum(s.invocations for s in self.segmenters.values())

    def run(self, image: Image.Image | None = None) -> SegmentationResult | None:
        """Segment `image` (default: the picker's) with the current controls and show it; None on error.

        Args:
            image: The photo (default: the picker's).
        """
        return self._run(image if image is not None else self.picker.image, 1)

    def repeat(self, n: int = 10) -> None:
        """Run the model `n` more times on the current image to fill the timing medians (drawn once).

        Args:
            n: How many runs.
        """
        self._run(self.image, n)

    def _run(self, image: Image.Image | None, times: int) -> SegmentationResult | None:
        if image is None:
            return None
        try:
            segmenter = self.segmenter
            # The viewer's readout and heat maps need the scores only at the model's coarse resolution: a copy of
            # a small tensor, where the model-resolution softmax would cost about one more invoke().
            scores: Scores = "coarse" if segmenter.spec.has_scores else False
            if image is not self.viewer.image:
                self.viewer.preview(image)  # the browser decodes the new photo while the model runs
            runs = [segmenter.segment(image, scores=scores) for _ in range(times)]
            result = runs[-1]
            source = self.picker.source if image is self.picker.image else self.source
            with self.hold_trait_notifications():
                self.image, self.result, self.source = image, result, source
            self.viewer.show(image, result, name=f"{source}_{result.model}")  # the picture first, then the rest
            for run in runs:
                self.timing.record(run)
        except Exception as exc:  # a traceback must never reach the output area
            self.viewer.cancel_preview()
            self._show_error(error_text(exc))
            return None
        self._shown = self._controls_key()
        self._show_status(result)
        self._sync_stride_tab()
        self._sync_media_tabs()
        if self.comparing and times == 1:
            self.compare.compare(image, result, self.source)
        return result

    def _on_tab(self, change: dict) -> None:
        if change["new"] in (VIDEO_TAB, CAMERA_TAB):
            self._sync_media_tabs()
        if change["new"] == STRIDE_TAB:
            self._sync_stride_tab()
        if change["new"] == COMPARE_TAB and not self.comparing:
            self.comparing = True
            if self.result is not None and self.image is not None:
                self.compare.compare(self.image, self.result, self.source)

    def _sync_media_tabs(self) -> None:
        """Build the Video or Camera tab's widget on its first opening, and give it the Segment tab's model.

        Only the open tab follows at once (the video re-segments its frame); the other follows when opened.
        """
        tab = self.tabs.selected_index
        if tab not in (VIDEO_TAB, CAMERA_TAB):
            return
        try:
            segmenter = self.segmenter
            if tab == VIDEO_TAB:
                if self.video is None:
                    self.video = VideoPlayer("cockatoo", segmenter, policy=self.policy)
                    self.video_view.children = (self.video,)
                else:
                    self.video.use(segmenter)
                self.video_note.value = FOLLOWS.format(what="The video", model=html.escape(segmenter.spec.name))
            else:
                if self.camera is None:
                    self.camera = CameraSegmenter(segmenter, policy=self.policy)
                    self.camera_view.children = (self.camera,)
                else:
                    self.camera.use(segmenter)
                self.camera_note.value = FOLLOWS.format(what="The camera", model=html.escape(segmenter.spec.name))
        except DeeplabWidgetsError as exc:  # e.g. a delegate that cannot run the model: the Segment tab says so too
            if tab == VIDEO_TAB and self.video is None:
                self.video_view.children = (widgets.HTML(error_html(error_text(exc))),)
            elif tab == CAMERA_TAB and self.camera is None:
                self.camera_view.children = (widgets.HTML(error_html(error_text(exc))),)

    def _sync_stride_tab(self) -> None:
        """Show the current model and photo in the Output stride tab, only while it is open (it derives and runs)."""
        if self.tabs.selected_index != STRIDE_TAB or self.image is None:
            return
        model, shown = self.controls.model_source(), (self._controls_key()[0], self.image)
        if self.stride_explorer is None:
            self.stride_explorer = OutputStrideExplorer(
                model, self.image, options=self.controls.options, policy=self.policy
            )
            self.stride_view.children = (self.stride_explorer,)
        elif shown != self._stride_shown:
            if shown[0] != (self._stride_shown or (None,))[0]:
                self.stride_explorer.model = model
                self.stride_explorer.image = None  # set_model must not run on the old photo
                self.stride_explorer.set_model(model)
            self.stride_explorer.set_image(self.image)
        self._stride_shown = shown

    def _show_status(self, result: SegmentationResult) -> None:
        top = ", ".join(f"{s.name} {s.fraction:.0%}" for s in result.present_classes()[:3] if s.fraction >= 0.005)
        zoo_id = self.segmenter.spec.zoo.name if self.segmenter.spec.zoo else None
        info = model_info(zoo_id) if zoo_id else None
        hint = ""
        if info is not None and info.sample and self.source != f"sample {info.sample}":
            covers = DATASETS.get(info.dataset, (info.dataset, info.dataset))[1]
            hint = f" · it knows {covers}: try the {info.sample} sample"
        self.status.value = (
            f"<span>{html.escape(self.source)} · {html.escape(result.model)} · "
            f"{result.timings.total_ms:.0f} ms · {html.escape(top)}{html.escape(hint)}</span>{self._subject_note(result)}"
        )

    def _subject_note(self, result: SegmentationResult) -> str:
        """A second line when the model has no class for what the sample shows (e.g. a Cityscapes model on a cat)."""
        shows = {s.name: s.shows for s in list_samples("photo")}.get(self.source.removeprefix("sample "), "")
        if not shows or shows in result.class_names:
            return ""
        labels = self.segmenter.spec.labels.name if self.segmenters else ""
        trained = DATASETS.get(labels, ("", f"{len(result.class_names)} classes of its own"))[1]
        return (
            f"<br><span style='color:#555'>{html.escape(result.model)} was trained on {html.escape(trained)}: "
            f"it has no class for {html.escape(shows)}, so it labels the photo with the classes it knows.</span>"
        )

    def _controls_key(self) -> tuple:
        c = self.controls
        source = c.model_source()
        # A re-uploaded file is a new model; a labels file makes the same file a new model too.
        model = (source.digest, source.class_names) if isinstance(source, ModelSpec) else source
        return model, c.options, c.resize

    def _on_controls(self, _: dict) -> None:
        # A model switch changes model and resize together: run once, not once per trait.
        # Also when the chosen photo is not the one on screen (its run failed, e.g. on a bad delegate): the
        # photo, the status line and the result must always agree.
        if self._controls_key() != self._shown or self.picker.image is not self.image:
            self.run()
        elif self.result is not None:  # back to what is on screen (e.g. after a failed delegate): no run
            self._show_status(self.result)

    def _on_image(self, change: dict) -> None:
        self.run(change["new"])

    def _on_error(self, change: dict) -> None:
        if change["new"]:
            self._show_error(change["new"])
        elif change["owner"] is self.picker and self.result is not None:
            # A photo was chosen after a failure. When it is the one on screen (a sample clicked again) nothing
            # runs, so the error would otherwise stay in the status line.
            self._show_status(self.result)

    def _show_error(self, message: str) -> None:
        kept = " (showing the last good result)" if self.result is not None else ""
        self.status.value = error_html(message + kept)
