"""CompareView: a second model on the same photo, side by side with the first, and where the two disagree.

The three pictures (model A, model B, the disagreement map) share zoom, pan and the hover marker in the browser
(one `sync_group`), so pointing at a pixel in one shows the same pixel in the others.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image

from ..core.imaging import image_first
from ..core.model import ModelSpec, load_model
from ..core.preprocess import check_resize
from ..core.segmenter import SegmentationResult, Segmenter, SegmenterInput, as_segmenter
from ..errors import DeeplabWidgetsError
from ..workflows.compare import Disagreement, disagreement
from .app_policy import AppPolicy, current_policy
from .mask_viewer import MaskViewer
from .runtime_controls import RuntimeControls
from .status import error_html, error_text, info_html

#: The model offered first for comparison with the starter model (same Pascal VOC classes, 513x513 input).
DEFAULT_MODEL_B = "deeplabv3-mnv2-voc"
DIFFERENT = (230, 40, 40)
#: The pictures' largest height in the Compare tab, as a fraction of the window's: three fit at 1280x900.
FIT_HEIGHT = 0.38
_groups = itertools.count(1)


def disagreement_result(a: SegmentationResult, b: SegmentationResult, found: Disagreement) -> SegmentationResult:
    """The disagreement mask as a two-class result (0 = same class, 1 = different class) for a MaskViewer.

    Args:
        a: Model A's result.
        b: Model B's result.
        found: Their `disagreement(a, b)`.
    """
    colormap = np.zeros((256, 3), np.uint8)
    colormap[1] = DIFFERENT
    colormap[0] = (128, 128, 128)
    labels = found.mask.astype(np.uint8)
    labels.setflags(write=False)
    return replace(
        a,
        labels=labels,
        class_names=("same class", "different class"),
        colormap=colormap,
        scores=None,
        model=f"{a.model} vs {b.model}",
    )


def class_table_html(a: SegmentationResult, b: SegmentationResult, found: Disagreement) -> str:
    """Per class: its share of the pixels by each model and the difference; then the commonest confusions.

    Args:
        a: Model A's result.
        b: Model B's result.
        found: Their `disagreement(a, b)`.
    """
    total = a.labels.size
    ids = sorted(
        set(np.flatnonzero(a.counts)) | set(np.flatnonzero(b.counts)), key=lambda i: -(a.counts[i] + b.counts[i])
    )
    cell = "padding:1px 8px;text-align:right"
    rows = "".join(
        f"<tr><td style='padding:1px 8px'>{html.escape(a.name_of(int(i)))}</td>"
        f"<td style='{cell}'>{a.counts[i] / total:.1%}</td><td style='{cell}'>{b.counts[i] / total:.1%}</td>"
        f"<td style='{cell}'>{(b.counts[i] - a.counts[i]) / total:+.1%}</td></tr>"
        for i in ids
    )
    pairs = "".join(
        f"<li>{html.escape(x)} by A, {html.escape(y)} by B: {share:.1%} of the pixels</li>"
        for x, y, share in found.pairs
    )
    return (
        "<table class='dlw-compare-table' style='border-collapse:collapse;font-variant-numeric:tabular-nums'>"
        f"<thead><tr><th style='text-align:left;padding:1px 8px'>class</th><th style='{cell}'>A</th>"
        f"<th style='{cell}'>B</th><th style='{cell}'>B - A</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f"<div>Where they differ most:</div><ul style='margin:2px 0'>{pairs}</ul>" if pairs else "")
    )


class CompareView(widgets.VBox):
    """Model A's result (given) beside model B's (run here with its own controls) on the same photo.

    Call `compare(image, result_a)` with the first model's result; it runs model B, shows both and the
    disagreement map, and keeps `result_b` and `disagreement`. Errors go to the status line; the last good
    comparison stays on screen.

    Args:
        model: Model B, chosen first: a zoo id, or a `.tflite` path, its bytes or a `Segmenter` (see
            `RuntimeControls`).
        **kwargs: Widget keywords (e.g. `layout`).
    """

    result_b = traitlets.Instance(SegmentationResult, allow_none=True)
    disagreement = traitlets.Instance(Disagreement, allow_none=True)

    def __init__(
        self, model: SegmenterInput = DEFAULT_MODEL_B, *, policy: AppPolicy | None = None, **kwargs: Any
    ) -> None:
        """`policy` decides what model B may load (default: `current_policy()`, see `app_policy`)."""
        self.policy = policy or current_policy()
        self.segmenters: dict[tuple, Segmenter] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._last: tuple[Image.Image, SegmentationResult, str] | None = None
        group = f"dlw-compare-{next(_groups)}"
        # Three columns at 1280 px, each picture fitted to its box with its readout and legend under it, so that
        # A, B and the disagreement map show together on one screen; narrower windows wrap them.
        column = {"flex": "1 1 360px", "min_width": "300px", "max_width": "100%"}
        self.viewer_a = MaskViewer(fit_height=FIT_HEIGHT, sync_group=group)
        self.viewer_b = MaskViewer(fit_height=FIT_HEIGHT, sync_group=group)
        self.viewer_diff = MaskViewer(hidden=(0,), alpha=0.7, fit_height=FIT_HEIGHT, sync_group=group)
        self.controls = RuntimeControls(model, policy=self.policy)
        self.controls.layout = {"flex_flow": "row wrap", "align_items": "center"}  # one or two lines, not seven
        self.controls.resize_buttons.style = {"button_width": "auto", "description_width": "initial"}
        self.controls.add_class("dlw-compare-controls")
        self.title_a = widgets.HTML("<b>A</b>")
        self.title_b = widgets.HTML("<b>B</b>")
        self.share = widgets.HTML("<b>Where they disagree</b>")
        self.share.add_class("dlw-disagreement")
        self.table = widgets.HTML()
        self.status = widgets.HTML()
        self.status.add_class("dlw-compare-status")
        views = widgets.HBox(
            [
                widgets.VBox([self.title_a, self.viewer_a], layout=column),
                widgets.VBox([self.title_b, self.viewer_b], layout=column),
                widgets.VBox([self.share, self.viewer_diff], layout=column),
            ],
            layout={"flex_flow": "row wrap", "align_items": "flex-start"},
        )
        views.add_class("dlw-compare-views")
        intro = widgets.HTML(
            "<b>Model B</b> (model A is the one chosen in the Segment tab; both run on the photo chosen above; "
            "hover any picture to see the same pixel in all three)"
        )
        super().__init__([intro, self.controls, self.status, views, self.table], **kwargs)
        self.add_class("dlw-compare")
        self.controls.observe(self._on_controls, names=["model", "options", "resize"])
        self.controls.observe(self._on_error, names="error")

    @property
    def segmenter(self) -> Segmenter:
        """Model B's Segmenter for its controls (cached), after the policy's checks (`AccessDeniedError`)."""
        c = self.controls
        source = self.policy.check_model(c.model_source())
        options = self.policy.check_options(c.options)
        name = source.digest if isinstance(source, ModelSpec) else str(source)
        key = (name, options, c.resize)
        segmenter = self.segmenters.get(key)
        if segmenter is None:
            spec = source if isinstance(source, ModelSpec) else self._specs.get(name)
            if spec is None:
                spec = self._specs[name] = load_model(name, options=options)
            segmenter = self.segmenters[key] = as_segmenter(spec, options, resize=check_resize(c.resize))
        return segmenter

    def compare(self, image: Image.Image, result_a: SegmentationResult, source: str = "") -> SegmentationResult | None:
        """Run model B on `image` and show it beside `result_a`; returns B's result, None on error.

        Args:
            image: The photo.
            result_a: Model A's result on it.
            source: Where the photo came from, for the status line and the downloads' names.
        """
        image, result_a = image_first(image, result_a, "CompareView.compare")
        self._last = (image, result_a, source)
        try:
            segmenter = self.segmenter
            result_b = segmenter.segment(image, scores=segmenter.spec.has_scores)
        except Exception as exc:  # a traceback must never reach the output area
            self._fail(error_text(exc))
            return None
        stem = source or "photo"
        self.viewer_a.show(image, result_a, name=f"{stem}_{result_a.model}")
        self.viewer_b.show(image, result_b, name=f"{stem}_{result_b.model}")
        self.title_a.value = f"<b>A</b>: {html.escape(result_a.model)} · {result_a.timings.total_ms:.0f} ms"
        self.title_b.value = f"<b>B</b>: {html.escape(result_b.model)} · {result_b.timings.total_ms:.0f} ms"
        try:
            found = disagreement(result_a, result_b)
        except DeeplabWidgetsError as exc:
            self.share.value = error_html(str(exc))
            self.table.value = ""
            self.disagreement = None
        else:
            self.viewer_diff.show(image, disagreement_result(result_a, result_b, found), name=f"{stem}_disagreement")
            self.share.value = f"<b>They disagree on {found.fraction:.1%} of the pixels</b> (red)"
            self.table.value = class_table_html(result_a, result_b, found)
            self.disagreement = found
        self.result_b = result_b
        self.status.value = info_html(f"{stem}: A {result_a.model}, B {result_b.model}")
        return result_b

    def _fail(self, message: str) -> None:
        kept = " (showing the last good comparison)" if self.result_b is not None else ""
        self.status.value = error_html(message + kept)

    def _on_error(self, change: dict) -> None:
        if change["new"]:
            self._fail(change["new"])

    def _on_controls(self, _: dict) -> None:
        if self._last is not None:
            self.compare(*self._last)
