"""MaskViewer: a result over its photo, composited in the browser (anywidget); mode, alpha and hidden classes
are display-only traits that the browser applies without a kernel round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets
from PIL import Image

from ..core.imaging import image_first
from ..core.segmenter import SegmentationResult
from ..viz.confidence import no_scores_message
from ..viz.render import MODES, DisplayOptions
from .viewer_payload import viewer_payload

STATIC = Path(__file__).with_name("static")


class MaskViewer(anywidget.AnyWidget):
    """Display a `SegmentationResult` over its image; never runs a model.

    The kernel sends the photo, the class map, colours, names and top-3 scores once per result (`show`);
    the browser draws the modes, opacity, class toggles, zoom/pan, the hover readout and the downloads.
    Traits: `result`, `image`, `mode` (one of `viz.MODES`), `alpha`, `hidden` (class ids not coloured),
    `sync_group` (views with the same non-empty group share zoom, pan and hover), `fit_height` (the picture's
    largest height, as a fraction of the browser window's; it is fitted inside) and `revision` (counts the results
    sent to the browser).

    Args:
        image: The photo to show (with `result`), or None to show one later with `show`.
        result: Its segmentation.
        mode: The display mode (one of `viz.MODES`).
        alpha: Opacity of the class colours, 0 to 1.
        hidden: Class ids drawn without colour.
        **kwargs: Other trait values (`sync_group`, ...) and widget keywords (`layout`, ...).
    """

    _esm = STATIC / "viewer.js"
    _css = STATIC / "viewer.css"

    result = traitlets.Instance(SegmentationResult, allow_none=True)
    image = traitlets.Instance(Image.Image, allow_none=True)
    mode = traitlets.Enum(MODES, default_value="overlay").tag(sync=True)
    alpha = traitlets.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    hidden = traitlets.Tuple().tag(sync=True)
    sync_group = traitlets.Unicode("").tag(sync=True)
    fit_height = traitlets.Float(0.75, min=0.1, max=1.0).tag(sync=True)
    download_name = traitlets.Unicode("segmentation").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    photo = traitlets.Bytes(b"").tag(sync=True)
    mask_png = traitlets.Bytes(b"").tag(sync=True)
    colormap = traitlets.Bytes(b"").tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    scores = traitlets.Bytes(b"").tag(sync=True)
    score_shape = traitlets.List(traitlets.Int(), default_value=[0, 0, 0]).tag(sync=True)
    heat_palette = traitlets.Bytes(b"").tag(sync=True)
    revision = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        image: Image.Image | None = None,
        result: SegmentationResult | None = None,
        *,
        mode: str = "overlay",
        alpha: float = 0.6,
        hidden: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> None:
        self._batch = False
        super().__init__(mode=mode, alpha=alpha, hidden=tuple(hidden), **kwargs)
        self.observe(self._on_source, names=["result", "image"])
        if result is not None and image is not None:
            self.show(*image_first(image, result, "MaskViewer"))

    @traitlets.validate("hidden")
    def _sorted_ids(self, proposal: dict) -> tuple[int, ...]:
        return tuple(sorted({int(i) for i in proposal["value"]}))

    @property
    def options(self) -> DisplayOptions:
        """The current display options."""
        return DisplayOptions(self.mode, self.alpha, frozenset(self.hidden))

    def show(self, image: Image.Image, result: SegmentationResult, name: str | None = None) -> None:
        """Show a photo and its result: one message to the browser.

        Args:
            image: The photo the result was made from.
            result: Its segmentation.
            name: The stem of the downloaded files' names (default: the model's name).
        """
        image, result = image_first(image, result, "MaskViewer.show")
        self._batch = True
        try:
            self.image = image
            self.result = result
        finally:
            self._batch = False
        self._send_result(name)

    def set_visible(self, class_id: int, visible: bool) -> None:
        """Show or hide one class.

        Args:
            class_id: The class.
            visible: Show it (True) or hide it.
        """
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
            self._send_result()

    def _send_result(self, name: str | None = None) -> None:
        if not self._ready():
            return
        result = self.result
        assert result is not None and self.image is not None
        payload = viewer_payload(self.image, result)
        present = {s.id for s in result.present_classes()}
        with self.hold_sync():
            self.photo = payload.photo
            self.mask_png = payload.mask_png
            self.colormap = payload.colormap
            self.class_names = list(payload.class_names)
            self.scores = payload.scores
            self.score_shape = list(payload.score_shape)
            self.heat_palette = payload.heat_palette
            self.note = "" if result.scores is not None else no_scores_message(result)
            self.hidden = tuple(i for i in self.hidden if i in present)
            self.download_name = download_stem(name or result.model)
            self.revision += 1


def download_stem(text: str) -> str:
    """A file-name stem from free text (letters, digits, `-`, `_`, `.`).

    Args:
        text: Any text, e.g. a model's name.
    """
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("._")
    return stem[:80] or "segmentation"
