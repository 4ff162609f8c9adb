"""MaskViewer: a result over its photo, composited in the browser (anywidget); mode, alpha, palette and hidden
classes are display-only traits that the browser applies without a kernel round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets
from PIL import Image

from ..core.imaging import colors_of, image_first
from ..core.labels import PALETTES
from ..core.segmenter import SegmentationResult
from ..viz.confidence import no_scores_message
from ..viz.render import DEFAULT_ALPHA, MODES, DisplayOptions
from .viewer_payload import photo_jpeg, viewer_payload

STATIC = Path(__file__).with_name("static")


class SameObject(traitlets.Instance):
    """An `Instance` trait that notifies whenever it is given another object, without comparing the two.

    traitlets compares old and new values with `==`: a PIL image compares its pixels (`tobytes()` of both, some
    milliseconds per megapixel) and a `SegmentationResult` its arrays, on every new photo or result.
    """

    def set(self, obj: traitlets.HasTraits, value: Any) -> None:
        new = self._validate(obj, value)
        assert self.name is not None
        old = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new
        if old is not new:
            obj._notify_trait(self.name, old, new)


class MaskViewer(anywidget.AnyWidget):
    """Display a `SegmentationResult` over its image; never runs a model.

    The kernel sends the photo, the class map, colours, names and scores once per result (`show`, see
    `viewer_payload`; `preview` sends a photo ahead of its result); the browser draws the modes, opacity, palette, class toggles, zoom/pan, the hover readout
    and the downloads, each mode as `viz.render` draws it. Results segmented with `scores="coarse"` (as the
    Workbench does) cost the least to send. Traits: `result`, `image`, `mode` (one of `viz.MODES`), `alpha`,
    `palette` (`"contrast"` or `"dataset"`), `hidden` (class ids not coloured), `sync_group` (views with the same
    non-empty group share zoom, pan and hover), `fit_height` (the picture's largest height, as a fraction of the
    browser window's; it is fitted inside) and `revision` (counts the results sent to the browser).

    The viewer dispatches a `dlw-painted` DOM event (`detail`: `revision` and the `performance.now()` times
    `received`, `decoded` and `drawn`) each time it has drawn a new result; it keeps no log.

    Args:
        image: The photo to show (with `result`), or None to show one later with `show`.
        result: Its segmentation.
        mode: The display mode (one of `viz.MODES`).
        alpha: Opacity of the class colours, 0 to 1.
        hidden: Class ids drawn without colour.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
        **kwargs: Other trait values (`sync_group`, ...) and widget keywords (`layout`, ...).
    """

    _esm = STATIC / "viewer.js"
    _css = STATIC / "viewer.css"

    result = SameObject(SegmentationResult, allow_none=True)
    image = SameObject(Image.Image, allow_none=True)
    mode = traitlets.Enum(MODES, default_value="overlay").tag(sync=True)
    alpha = traitlets.Float(DEFAULT_ALPHA, min=0.0, max=1.0).tag(sync=True)
    palette = traitlets.Enum(PALETTES, default_value="contrast").tag(sync=True)
    hidden = traitlets.Tuple().tag(sync=True)
    sync_group = traitlets.Unicode("").tag(sync=True)
    fit_height = traitlets.Float(0.75, min=0.1, max=1.0).tag(sync=True)
    download_name = traitlets.Unicode("segmentation").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    photo = traitlets.Bytes(b"").tag(sync=True)
    mask_png = traitlets.Bytes(b"").tag(sync=True)
    labels = traitlets.Bytes(b"").tag(sync=True)
    labels_shape = traitlets.List(traitlets.Int(), default_value=[0, 0]).tag(sync=True)
    colormap = traitlets.Bytes(b"").tag(sync=True)
    contrast_colormap = traitlets.Bytes(b"").tag(sync=True)
    clear = traitlets.List(traitlets.Int()).tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    scores = traitlets.Bytes(b"").tag(sync=True)
    score_shape = traitlets.List(traitlets.Int(), default_value=[0, 0, 0]).tag(sync=True)
    coarse = traitlets.Bytes(b"").tag(sync=True)
    coarse_info = traitlets.Dict().tag(sync=True)
    heat_palette = traitlets.Bytes(b"").tag(sync=True)
    revision = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        image: Image.Image | None = None,
        result: SegmentationResult | None = None,
        *,
        mode: str = "overlay",
        alpha: float = DEFAULT_ALPHA,
        hidden: tuple[int, ...] = (),
        palette: str = "contrast",
        **kwargs: Any,
    ) -> None:
        self._batch = False
        # The photo on screen and a previewed one, with their JPEGs: each photo is encoded once.
        self._jpegs: list[tuple[Image.Image, bytes]] = []
        super().__init__(mode=mode, alpha=alpha, hidden=tuple(hidden), palette=palette, **kwargs)
        self.observe(self._on_source, names=["result", "image"])
        if result is not None and image is not None:
            self.show(*image_first(image, result, "MaskViewer"))

    @traitlets.validate("hidden")
    def _sorted_ids(self, proposal: dict) -> tuple[int, ...]:
        return tuple(sorted({int(i) for i in proposal["value"]}))

    @property
    def options(self) -> DisplayOptions:
        """The current display options."""
        return DisplayOptions(self.mode, self.alpha, frozenset(self.hidden), self.palette)

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

    def preview(self, image: Image.Image) -> None:
        """Send the photo of a result still to come, so that the browser decodes it while the kernel segments.

        The picture on screen does not change: the browser draws the photo with its result (`show`), which then does
        not send the photo again. A caller whose run fails takes the preview back with `cancel_preview`.

        Args:
            image: The photo about to be segmented.
        """
        self.photo = self._encoded(image)

    def cancel_preview(self) -> None:
        """Send the photo on screen again after a `preview` whose result will not come (the run failed)."""
        if self.image is not None:
            self.photo = self._encoded(self.image)

    def _encoded(self, image: Image.Image) -> bytes:
        for kept, data in self._jpegs:
            if kept is image:
                return data
        data = photo_jpeg(image if image.mode == "RGB" else image.convert("RGB"))
        self._jpegs = [(image, data), *self._jpegs][:2]
        return data

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
        result, image = self.result, self.image
        assert result is not None and image is not None
        payload = viewer_payload(image, result, photo=self._encoded(image))
        present = {s.id for s in result.present_classes()}
        with self.hold_sync():  # one message; traits whose bytes did not change are not sent again
            self.photo = payload.photo
            self.mask_png = payload.mask_png
            self.labels = payload.labels
            self.labels_shape = list(payload.labels_shape)
            self.colormap = payload.colormap
            self.contrast_colormap = payload.contrast_colormap
            if list(payload.clear) != self.clear:
                self.clear = list(payload.clear)
            if list(payload.class_names) != self.class_names:  # 256 names: validated only when they change
                self.class_names = list(payload.class_names)
            self.scores = payload.scores
            self.score_shape = list(payload.score_shape)
            self.coarse = payload.coarse
            self.coarse_info = payload.coarse_info
            self.heat_palette = payload.heat_palette
            self.note = "" if result.has_scores else no_scores_message(result)
            self.hidden = tuple(i for i in self.hidden if i in present)
            self.download_name = download_stem(name or result.model)
            self.revision += 1

    def _set_class_colors(self, result: SegmentationResult) -> None:
        """Send the class names and both palettes of `result`'s label set (only what changed is sent)."""
        contrast = colors_of(result, "contrast")
        self.colormap = np.asarray(result.colormap, np.uint8).tobytes()
        self.contrast_colormap = contrast.colormap.tobytes()
        self.clear = sorted(contrast.clear)
        self.class_names = [result.name_of(i) for i in range(256)]


def download_stem(text: str) -> str:
    """A file-name stem from free text (letters, digits, `-`, `_`, `.`).

    Args:
        text: Any text, e.g. a model's name.
    """
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("._")
    return stem[:80] or "segmentation"
