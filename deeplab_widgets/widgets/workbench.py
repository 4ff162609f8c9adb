"""Workbench: picker, runtime controls, mask viewer and timings composed into one app.

The model runs only when the image, the model or the runtime options change; display changes go
to the MaskViewer, which re-renders the cached result. Errors go to the status line and the last
good result stays on screen.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import traitlets
from PIL import Image

from ..core.images import ImageInput
from ..core.model import ModelSpec, load_model
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmentationResult, Segmenter
from ..errors import DeeplabWidgetsError
from .image_picker import ImagePicker
from .mask_viewer import MaskViewer
from .runtime_controls import RuntimeControls
from .status import error_html
from .timing_panel import TimingPanel
from .timing_readout import TimingReadout


class Workbench(widgets.VBox):
    """The whole app: `Workbench()` opens with the starter model and a sample photo already segmented.

    `image` is a sample name or anything `load_image` reads; `options` the initial `RuntimeOptions`.

    Observe `result` (the last good `SegmentationResult`) and `image` (its photo).
    """

    result = traitlets.Instance(SegmentationResult, allow_none=True)
    image = traitlets.Instance(Image.Image, allow_none=True)

    def __init__(
        self,
        model: str = "deeplabv3-starter",
        image: ImageInput | None = "cat",
        options: RuntimeOptions | None = None,
        *,
        resize: str | None = None,
        mode: str = "overlay",
        alpha: float = 0.6,
        **kwargs,
    ) -> None:
        self.segmenters: dict[tuple, Segmenter] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._shown: tuple | None = None  # the controls' (model, options, resize) of the result on screen
        self.status = widgets.HTML()
        self.status.add_class("dlw-status")
        self.picker = ImagePicker(value=None)
        self.controls = RuntimeControls(model, options, resize)
        self.viewer = MaskViewer(mode=mode, alpha=alpha, layout={"flex": "3 1 0%", "min_width": "320px"})
        self.timing = TimingReadout()
        self.repeat_button = widgets.Button(description="time 10 runs", tooltip="run the model 10 more times")
        self.repeat_button.add_class("dlw-repeat")
        self.repeat_button.on_click(lambda _: self.repeat(10))
        side = widgets.VBox(
            [self.controls, self.timing, self.repeat_button], layout={"flex": "1 1 0%", "min_width": "300px"}
        )
        self.timing_panel = TimingPanel()
        segment_view = widgets.VBox([self.picker, widgets.HBox([self.viewer, side]), self.status])
        self.tabs = widgets.Tab([segment_view, self.timing_panel], titles=("Segment", "Benchmark"))
        super().__init__([self.tabs], **kwargs)
        self.add_class("dlw-workbench")
        self.picker.observe(self._on_image, names="image")
        self.picker.observe(self._on_error, names="error")
        self.controls.observe(self._on_error, names="error")
        self.controls.observe(self._on_controls, names=["model", "options", "resize"])
        if isinstance(image, str) and image in self.picker.buttons:
            self.picker.select(image)
        elif image is not None:
            self.picker.load(image, "image")

    @property
    def segmenter(self) -> Segmenter:
        """The Segmenter for the chosen model, options and resize mode (cached, so toggling is cheap)."""
        model, options, resize = key = self._controls_key()
        segmenter = self.segmenters.get(key)
        if segmenter is None:
            spec = self._specs.get(model)
            if spec is None:
                source = self.controls.model_source()
                spec = source if isinstance(source, ModelSpec) else load_model(source, options=options)
                self._specs[model] = spec
            segmenter = self.segmenters[key] = Segmenter(spec, options, resize=resize)
        return segmenter

    @property
    def invocations(self) -> int:
        """Model runs so far, over every Segmenter this workbench made."""
        return sum(s.invocations for s in self.segmenters.values())

    def run(self, image: Image.Image | None = None) -> SegmentationResult | None:
        """Segment `image` (default: the picker's) with the current controls and show it; None on error."""
        return self._run(image if image is not None else self.picker.image, 1)

    def repeat(self, n: int = 10) -> None:
        """Run the model `n` more times on the current image to fill the timing medians (drawn once)."""
        self._run(self.image, n)

    def _run(self, image: Image.Image | None, times: int) -> SegmentationResult | None:
        if image is None:
            return None
        try:
            segmenter = self.segmenter
            for _ in range(times):
                result = segmenter.segment(image, scores=segmenter.spec.has_scores)
                self.timing.record(result)
            with self.hold_trait_notifications():
                self.image, self.result = image, result
            self.viewer.show(result, image)
        except DeeplabWidgetsError as exc:
            self._show_error(f"{type(exc).__name__}: {exc}")
            return None
        except Exception as exc:  # a traceback must never reach the output area
            self._show_error(f"unexpected {type(exc).__name__}: {exc}")
            return None
        self._shown = self._controls_key()
        self._show_status(result)
        return result

    def _show_status(self, result: SegmentationResult) -> None:
        top = ", ".join(f"{s.name} {s.fraction:.0%}" for s in result.present_classes()[:3] if s.fraction >= 0.005)
        info = self.segmenter.spec.zoo
        hint = ""
        if info is not None and info.sample and self.picker.source != f"sample {info.sample}":
            hint = f" · {info.dataset} classes: try the {info.sample} sample"
        self.status.value = (
            f"<span>{html.escape(self.picker.source)} · {html.escape(result.model)} · "
            f"{result.timings.total_ms:.0f} ms · {html.escape(top)}{html.escape(hint)}</span>"
        )

    def _controls_key(self) -> tuple:
        c = self.controls
        source = c.model_source()
        model = source.digest if isinstance(source, ModelSpec) else source  # a re-uploaded file is a new model
        return model, c.options, c.resize

    def _on_controls(self, _: dict) -> None:
        # A model switch changes model and resize together: run once, not once per trait.
        if self._controls_key() != self._shown:
            self.run()
        elif self.result is not None:  # back to what is on screen (e.g. after a failed delegate): no run
            self._show_status(self.result)

    def _on_image(self, change: dict) -> None:
        self.run(change["new"])

    def _on_error(self, change: dict) -> None:
        if change["new"]:
            self._show_error(change["new"])

    def _show_error(self, message: str) -> None:
        kept = " (showing the last good result)" if self.result is not None else ""
        self.status.value = error_html(message + kept)
