"""MaskViewer: shows a result over its photo; mode, alpha and class toggles are display-only traits."""

from __future__ import annotations

import time

import ipywidgets as widgets
import traitlets
from PIL import Image

from ..core.segmenter import SegmentationResult
from ..viz.legend import legend_entries, legend_html
from ..viz.render import DISPLAY_FORMAT, MODES, DisplayOptions, Renderer, encode
from .status import info_html


class MaskViewer(widgets.VBox):
    """Display a `SegmentationResult` over its image; never runs a model.

    Traits: `result`, `image`, `mode` (one of `viz.MODES`), `alpha`, `hidden` (class ids not coloured),
    and `render_ms` (time of the last render + encode). Use `show(result, image)` to change both at once.
    """

    result = traitlets.Instance(SegmentationResult, allow_none=True)
    image = traitlets.Instance(Image.Image, allow_none=True)
    mode = traitlets.Enum(MODES, default_value="overlay")
    alpha = traitlets.Float(0.6, min=0.0, max=1.0)
    hidden = traitlets.Tuple()
    render_ms = traitlets.Float(0.0)

    def __init__(
        self,
        result: SegmentationResult | None = None,
        image: Image.Image | None = None,
        *,
        mode: str = "overlay",
        alpha: float = 0.6,
        hidden: tuple[int, ...] = (),
        **kwargs,
    ) -> None:
        self.renderer = Renderer()
        self._batch = False
        self.mode_buttons = widgets.ToggleButtons(options=list(MODES), value=mode, style={"button_width": "92px"})
        self.mode_buttons.add_class("dlw-mode")
        self.alpha_slider = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="Alpha")
        self.alpha_slider.add_class("dlw-alpha")
        self.display_image = widgets.Image(
            format=DISPLAY_FORMAT,
            layout={"width": "100%", "height": "auto", "max_height": "75vh", "object_fit": "contain"},
        )
        self.display_image.add_class("dlw-overlay")
        self.note = widgets.HTML()
        self.note.add_class("dlw-note")
        self.class_toggles = widgets.HBox(layout={"flex_flow": "row wrap"})
        self.class_toggles.add_class("dlw-classes")
        self.legend = widgets.HTML("<i>no result yet</i>")
        self.legend.add_class("dlw-legend")
        super().__init__(
            [
                widgets.HBox([self.mode_buttons, self.alpha_slider], layout={"flex_flow": "row wrap"}),
                self.display_image,
                self.note,
                self.class_toggles,
                self.legend,
            ],
            **kwargs,
        )
        self.add_class("dlw-mask-viewer")
        self.set_trait("mode", mode)
        self.set_trait("alpha", alpha)
        self.set_trait("hidden", tuple(sorted(int(i) for i in hidden)))
        widgets.link((self.mode_buttons, "value"), (self, "mode"))
        widgets.link((self.alpha_slider, "value"), (self, "alpha"))
        self.observe(self._on_display_change, names=["mode", "alpha"])
        self.observe(self._on_hidden, names="hidden")
        self.observe(self._on_source, names=["result", "image"])
        if result is not None and image is not None:
            self.show(result, image)

    @property
    def options(self) -> DisplayOptions:
        """The current display options."""
        return DisplayOptions(self.mode, self.alpha, frozenset(self.hidden))

    @property
    def value(self) -> bytes:
        """The encoded picture on screen."""
        return self.display_image.value

    def show(self, result: SegmentationResult, image: Image.Image) -> None:
        """Show a new result and its image with a single render."""
        self._batch = True
        try:
            self.image = image
            self.result = result
        finally:
            self._batch = False
        self._rebuild()

    def set_visible(self, class_id: int, visible: bool) -> None:
        """Show or hide one class."""
        hidden = set(self.hidden)
        (hidden.discard if visible else hidden.add)(int(class_id))
        self.hidden = tuple(sorted(hidden))

    def _ready(self) -> bool:
        return (
            self.result is not None
            and self.image is not None
            and (self.image.height, self.image.width) == self.result.labels.shape
        )

    def _on_source(self, _: dict) -> None:
        if not self._batch:
            self._rebuild()

    def _on_display_change(self, _: dict) -> None:
        self._render()

    def _on_hidden(self, _: dict) -> None:
        for toggle in self.class_toggles.children:
            shown = toggle.class_id not in self.hidden
            if toggle.value != shown:
                toggle.value = shown
        self._update_legend()
        self._render()

    def _rebuild(self) -> None:
        """New result: rebuild the class toggles and legend, then render."""
        if not self._ready() or self.result is None:
            return
        toggles = []
        for entry in legend_entries(self.result, self.hidden):
            toggle = widgets.ToggleButton(
                value=entry.visible,
                description=f"{entry.name} {entry.percent}",
                tooltip=f"show or hide {entry.name}",
                icon="eye" if entry.visible else "eye-slash",
                layout={"width": "auto"},
                style={"text_color": entry.hex},
            )
            toggle.class_id = entry.id
            toggle.add_class(f"dlw-class-{entry.id}")
            toggle.observe(self._on_toggle, names="value")
            toggles.append(toggle)
        self.class_toggles.children = toggles
        self._update_legend()
        self._render()

    def _on_toggle(self, change: dict) -> None:
        toggle = change["owner"]
        toggle.icon = "eye" if change["new"] else "eye-slash"
        if (toggle.class_id not in self.hidden) != change["new"]:
            self.set_visible(toggle.class_id, change["new"])

    def _update_legend(self) -> None:
        if self.result is not None:
            self.legend.value = legend_html(legend_entries(self.result, self.hidden))

    def _render(self) -> None:
        if not self._ready() or self.result is None or self.image is None:
            return
        start = time.perf_counter()
        rendered = self.renderer.render(self.image, self.result, self.options)
        self.display_image.value = encode(rendered.image)
        self.note.value = info_html(rendered.note) if rendered.note else ""
        self.render_ms = (time.perf_counter() - start) * 1e3
