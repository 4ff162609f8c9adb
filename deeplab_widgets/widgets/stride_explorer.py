"""The current model at another output stride or input size, live: derive it, segment the photo, compare.

The controls derive the model (`analysis.derive`, cached on disk), segment the current photo with the derived
model and with the model as it is, and show the derived result with its milliseconds, MACs and agreement next
to the original's. Derivation writes a new model file to the server's cache, so in app mode only zoo models are
derived; the choices a visitor sends are checked in the kernel (`derive` refuses strides and sizes it does not
support), and a failure keeps the last good result on screen.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
from PIL import Image

from ..analysis.cost import compute_cost
from ..analysis.deeplab import read_graph
from ..analysis.derive import DerivedModel, derive, reachable_strides
from ..assets import zoo
from ..core.images import ImageInput, load_image
from ..core.model import ModelInput, ModelSpec, load_model
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmentationResult, Segmenter
from ..errors import AccessDeniedError
from ..workflows.samples import resolve_image
from .app_policy import AppPolicy, current_policy
from .mask_viewer import MaskViewer
from .status import error_html, error_text, info_html

#: Input sizes offered (DeepLab's k x 16 + 1 sizes); the model's own size is added.
INPUT_SIZES = (257, 321, 385, 513)
#: Runs per configuration for the milliseconds shown (median of invoke()).
RUNS = 3


class OutputStrideExplorer(widgets.VBox):
    """Output stride, input size and image pooling controls for one model, on one photo.

    `model` is a zoo id, a path, bytes or a `ModelSpec`; `image` a sample name or anything `load_image` reads.
    Observe nothing: read `result` (the derived model's last good `SegmentationResult`) and `derived`.
    """

    def __init__(
        self,
        model: ModelInput | ModelSpec = "deeplabv3-starter",
        image: ImageInput | None = "cat",
        *,
        options: RuntimeOptions | None = None,
        policy: AppPolicy | None = None,
    ) -> None:
        self.policy = policy or current_policy()
        self.options = options or RuntimeOptions()
        self.model: ModelInput | ModelSpec = model
        self.image: Image.Image | None = None
        self.result: SegmentationResult | None = None
        self.derived: DerivedModel | None = None
        self._segmenters: dict[tuple, Segmenter] = {}
        self._own: tuple[Image.Image, SegmentationResult, float, int] | None = None  # the model as it is
        self._own_feature: tuple[int, int] = (0, 0)  # its encoder's feature map
        style = {"description_width": "110px"}
        self.stride = widgets.ToggleButtons(options=[8, 16, 32], description="output stride", style=style)
        self.size = widgets.Dropdown(options=list(INPUT_SIZES), description="input size (px)", style=style)
        self.pooling = widgets.Checkbox(True, description="image pooling branch", style=style)
        self.viewer = MaskViewer(mode="overlay", alpha=0.6, layout={"flex": "2 1 480px", "min_width": "280px"})
        self.table = widgets.HTML()
        self.status = widgets.HTML()
        controls = widgets.VBox([self.stride, self.size, self.pooling, self.table], layout={"flex": "1 1 320px"})
        super().__init__([widgets.HBox([self.viewer, controls], layout={"flex_flow": "row wrap"}), self.status])
        self.add_class("dlw-stride-explorer")
        self.table.add_class("dlw-stride-table")
        self.status.add_class("dlw-stride-status")
        self._quiet = False
        for control in (self.stride, self.size, self.pooling):
            control.observe(self._changed, names="value")
        self.set_model(model)
        if image is not None:
            self.set_image(image)

    def set_model(self, model: ModelInput | ModelSpec) -> None:
        """Follow another model: its own stride and input size become the controls' starting values."""
        try:
            graph = read_graph(model)
        except Exception as exc:  # a traceback must never reach the output area
            self.status.value = error_html(error_text(exc))
            return
        s = graph.summary
        strides = reachable_strides(graph) or (s.output_stride,)
        self.model, self._own, self._own_feature = model, None, s.feature_size
        self._quiet = True
        try:
            self.stride.options = list(strides)
            self.stride.value = s.output_stride if s.output_stride in strides else strides[0]
            self.size.options = sorted({*INPUT_SIZES, s.input_size[0]})
            self.size.value = s.input_size[0]
            self.pooling.value = s.image_pooling is not None
            self.pooling.disabled = s.image_pooling is None
        finally:
            self._quiet = False
        self.run()

    def set_image(self, image: ImageInput) -> None:
        """Segment another photo with the current settings."""
        try:
            self.image = load_image(resolve_image(image))
        except Exception as exc:
            self.status.value = error_html(error_text(exc))
            return
        self._own = None
        self.run()

    def _changed(self, _change: dict) -> None:
        if not self._quiet:
            self.run()

    def _source(self) -> ModelInput | ModelSpec:
        """The model to derive from; in app mode a zoo model only (refused in the kernel, whatever was sent)."""
        model = self.model
        if not self.policy.app_mode:
            return model
        zoo_id = (
            model if isinstance(model, str) else model.zoo.name if isinstance(model, ModelSpec) and model.zoo else ""
        )
        if zoo_id not in zoo.model_names():
            raise AccessDeniedError("this app derives zoo models only; pick one of the zoo's models")
        return zoo_id

    def _segmenter(self, key: tuple, make: Callable[[], Segmenter]) -> Segmenter:
        seg = self._segmenters.get(key)
        if seg is None:
            seg = self._segmenters[key] = make()
        return seg

    def _timed(self, seg: Segmenter, image: Image.Image) -> tuple[SegmentationResult, float]:
        results = [seg.segment(image) for _ in range(RUNS + 1)][1:]  # the first run also packs the weights
        return results[-1], statistics.median(r.timings.invoke_ms for r in results)

    def _as_is(self, source: ModelInput | ModelSpec, digest: str) -> tuple[SegmentationResult, float, int]:
        """The model as it is on the current photo: result, milliseconds and MACs (kept until photo or model change)."""
        if self._own is None or self._own[0] is not self.image:
            spec = source if isinstance(source, ModelSpec) else load_model(source, options=self.options)
            seg = self._segmenter(("as is", digest), lambda: Segmenter(spec, self.options))
            assert self.image is not None
            result, ms = self._timed(seg, self.image)
            self._own = (self.image, result, ms, compute_cost(spec).total_macs)
        return self._own[1], self._own[2], self._own[3]

    def run(self) -> SegmentationResult | None:
        """Derive (cached) and segment the photo; on failure the last good result stays and the status says why."""
        if self.image is None:
            return None
        try:
            source = self._source()
            stride, size, pooling = int(self.stride.value), int(self.size.value), bool(self.pooling.value)
            derived = derive(source, output_stride=stride, input_size=size, image_pooling=pooling)
            key = (derived.source_digest, stride, size, pooling)
            seg = self._segmenter(key, lambda: derived.segmenter(self.options))
            result, ms = self._timed(seg, self.image)
            own, own_ms, own_macs = self._as_is(source, derived.source_digest)
            macs = compute_cost(derived.content).total_macs
            self.viewer.show(self.image, result, name=derived.name.replace(" ", "_"))
        except Exception as exc:  # a traceback must never reach the output area
            kept = " (showing the last good result)" if self.result is not None else ""
            self.status.value = error_html(error_text(exc) + kept)
            return None
        self.result, self.derived = result, derived
        agree = float(np.mean(result.labels == own.labels))
        own_row = (self._own_feature, own, own_ms, own_macs)
        self.table.value = _table(own_row, (derived.feature_size, result, ms, macs), agree)
        self.status.value = info_html(f"{derived.name}: {len(derived.edits)} edits to the graph, the same weights")
        return result


def _table(
    own: tuple[tuple[int, int], SegmentationResult, float, int],
    derived: tuple[tuple[int, int], SegmentationResult, float, int],
    agree: float,
) -> str:
    """The model as it is and the derived one side by side: (feature map, result, invoke ms, MACs) each."""
    (fa, ra, ma, ca), (fb, rb, mb, cb) = own, derived
    rows = [
        ("", "model as it is", "derived"),
        ("feature map", f"{fa[0]}x{fa[1]}", f"{fb[0]}x{fb[1]}"),
        ("GMACs", f"{ca / 1e9:.2f}", f"{cb / 1e9:.2f}"),
        (f"invoke ms (median of {RUNS})", f"{ma:.1f}", f"{mb:.1f}"),
        ("top classes", _top(ra), _top(rb)),
        ("agreement with the model as it is", "", f"{agree:.1%}"),
    ]
    cells = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table>{cells}</table>"


def _top(result: SegmentationResult) -> str:
    return ", ".join(f"{c.name} {c.fraction:.0%}" for c in result.present_classes()[:3] if c.fraction >= 0.005)
