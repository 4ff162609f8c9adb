"""Widgets that let students explore DeepLab's ideas: an atrous-rate explorer, a layer browser
for a real model and an ASPP explorer. Figures come from `deeplab_widgets.viz.architecture`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
from PIL import Image

from ..analysis import concepts
from ..analysis.deeplab import ModelGraph, read_graph
from ..analysis.intermediates import Activations, Probe
from ..core.checks import check_choice
from ..core.images import ImageInput, load_image
from ..core.model import ModelInput
from ..core.runtime import RuntimeOptions
from ..core.segmenter import SegmenterInput
from ..errors import DeeplabWidgetsError
from ..viz import architecture as viz
from ..workflows.samples import resolve_image
from .status import error_html, info_html

#: Longest side of a photo drawn under a sampling grid.
PHOTO_SIDE = 384


def _photo(image: ImageInput | None) -> Image.Image | None:
    if image is None:
        return None
    picture = load_image(resolve_image(image)).copy()
    picture.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    return picture


def _png_image() -> widgets.Image:
    return widgets.Image(format="png", layout={"max_width": "100%", "height": "auto"})


#: The output strides the atrous explorer offers.
OUTPUT_STRIDES = (1, 4, 8, 16, 32)


class AtrousExplorer(widgets.VBox):
    """Kernel size, rate, depth and output stride; draws where the filter samples and its receptive field.

    The rate counts cells of the feature map the filter runs on; at output stride s each cell is s input pixels,
    so the taps are drawn rate x s pixels apart on the photo (rate 6 at stride 16: 96 px apart, a 193 px span).

    Args:
        image: A photo to draw the taps over (a sample name or anything `load_image` reads), or None for a
            plain pixel grid.
        kernel: The filter size shown first.
        rate: The atrous rate shown first.
        layers: How many stacked filters the receptive field shows first.
        output_stride: The output stride shown first, one of `OUTPUT_STRIDES` (1: the filter runs on the input
            itself).

    Raises:
        OptionsError: `output_stride` is not one of `OUTPUT_STRIDES`.
    """

    def __init__(
        self,
        image: ImageInput | None = "bird",
        *,
        kernel: int = 3,
        rate: int = 2,
        layers: int = 1,
        output_stride: int = 1,
    ) -> None:
        check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        self.photo = _photo(image)
        h, w = (self.photo.height, self.photo.width) if self.photo else (31, 31)
        style = {"description_width": "80px"}
        self.kernel = widgets.IntSlider(kernel, min=1, max=7, step=2, description="kernel", style=style)
        self.rate = widgets.IntSlider(rate, min=1, max=48, description="rate", style=style)
        self.layers = widgets.IntSlider(layers, min=1, max=5, description="layers", style=style)
        self.output_stride = widgets.Dropdown(
            options=list(OUTPUT_STRIDES), value=output_stride, description="output stride", style=style
        )
        self.row = widgets.IntSlider(h // 2, min=0, max=h - 1, description="centre row", style=style)
        self.col = widgets.IntSlider(w // 2, min=0, max=w - 1, description="centre col", style=style)
        self.picture = _png_image()
        self.status = widgets.HTML()
        for s in (self.kernel, self.rate, self.layers, self.output_stride, self.row, self.col):
            s.observe(self._changed, names="value")
        controls = widgets.VBox([self.kernel, self.rate, self.layers, self.output_stride, self.row, self.col])
        super().__init__([widgets.HBox([controls, self.picture]), self.status])
        self.redraw()

    def _changed(self, _change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the sampling grid for the current sliders and describe it in the status line."""
        k, r, n, s = self.kernel.value, self.rate.value, self.layers.value, self.output_stride.value
        fig = viz.plot_sampling_grid(
            k, r, image=self.photo, size=31, center=(self.row.value, self.col.value), layers=n, output_stride=s
        )
        self.picture.value = viz.figure_png(fig)
        rf = concepts.receptive_field([concepts.ConvSpec(k, 1, r)] * n)[-1].receptive_field
        plain = concepts.receptive_field([concepts.ConvSpec(k, 1, 1)] * n)[-1].receptive_field
        cover = concepts.coverage([r] * n, k) if k > 1 else 1.0
        if s == 1:
            field = f"receptive field {rf} px (rate 1: {plain} px)"
        else:
            field = f"receptive field {rf} cells = {(rf - 1) * s + 1} input px (rate 1: {plain} cells)"
        where = f" on a map of output stride {s}" if s > 1 else ""
        self.status.value = info_html(
            f"{k}x{k} taps spread over {concepts.input_extent(k, r, s)} px{where}; {n} layer(s) at rate {r}: "
            f"{field}, same parameters; "
            f"{cover:.0%} of the receptive field{' (in cells)' if s > 1 else ''} is actually sampled"
            + (" (gridding)" if cover < 1 else "")
        )


class LayerBrowser(widgets.VBox):
    """Pick a layer of a real model: its shape, kernel, rate, MACs and receptive field, and its

    feature maps on the current photo. The model runs once per photo; changing layer is display-only.

    Args:
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        image: The photo (a sample name or anything `load_image` reads).
        options: Runtime options for the probe's interpreter.
        channels: Feature-map channels shown per layer.
    """

    def __init__(
        self,
        model: SegmenterInput = "deeplabv3-starter",
        image: ImageInput = "bird",
        *,
        options: RuntimeOptions | None = None,
        channels: int = 16,
    ) -> None:
        self.probe = Probe(model, options)
        self.graph = self.probe.graph
        self.activations: Activations | None = None
        choices = [(ly.describe(), ly.index) for ly in self.graph.layers if ly.spatial is not None]
        start = self.graph.summary.atrous_start
        self.layer = widgets.Dropdown(
            options=choices,
            value=start if start is not None else choices[0][1],
            description="layer",
            layout={"width": "95%"},
        )
        self.channels = widgets.IntSlider(channels, min=1, max=64, description="channels")
        self.order = widgets.ToggleButtons(options=["strongest", "index"], value="strongest")
        self.info = widgets.HTML()
        self.picture = _png_image()
        self.status = widgets.HTML()
        self.layer.observe(self._display, names="value")
        self.channels.observe(self._display, names="value")
        self.order.observe(self._display, names="value")
        super().__init__([self.layer, widgets.HBox([self.channels, self.order]), self.info, self.picture, self.status])
        self.set_image(image)

    def set_image(self, image: ImageInput) -> bool:
        """Run the model on a new photo (keeps the last good activations if this fails).

        Args:
            image: A sample name or anything `load_image` reads.
        """
        try:
            acts = self.probe.run(resolve_image(image))
        except (DeeplabWidgetsError, OSError) as exc:
            self.status.value = error_html(str(exc))
            return False
        self.activations = acts
        self.status.value = info_html(f"{self.graph.summary.name}: ran once with every tensor kept")
        self.show()
        return True

    def _display(self, _change: dict) -> None:
        self.show()

    def show(self) -> None:
        """Describe the chosen layer and draw its feature maps (no model run)."""
        ly = self.graph.layer(self.layer.value)
        rows = [
            ("op", ly.op),
            ("name", ly.name),
            ("role", ly.role),
            ("input", ", ".join("x".join(map(str, s)) for s in ly.input_shapes)),
            ("output", "x".join(map(str, ly.output_shape))),
            ("kernel", f"{ly.kernel[0]}x{ly.kernel[1]}" if ly.kernel else "-"),
            ("stride / rate", f"{ly.stride[0]} / {ly.rate}"),
            ("padding, activation", f"{ly.padding or '-'}, {ly.activation}"),
            ("params / MACs", f"{ly.params:,} / {ly.macs / 1e6:.2f} M"),
            ("receptive field", f"{ly.receptive_field} px (input {self.graph.summary.input_size[0]})"),
        ]
        cells = "".join(f"<tr><td><b>{k}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        self.info.value = f"<table>{cells}</table>"
        if self.activations is None:
            return
        fmap = self.activations.layer_output(ly)
        fig = viz.plot_feature_maps(
            fmap, channels=self.channels.value, order=self.order.value, title=f"layer {ly.index}: {ly.name}"
        )
        self.picture.value = viz.figure_png(fig)


class AsppExplorer(widgets.VBox):
    """Atrous spatial pyramid pooling: choose rates and the feature-map size, see the branches' taps

    and how large rates lose their outer taps (why DeepLab v3 adds the image-level feature).

    Args:
        model: A zoo id or `.tflite` path whose graph gives the feature-map size, a `ModelGraph`, or None.
        rates: The branches' atrous rates shown first.
    """

    def __init__(
        self, model: ModelInput | ModelGraph | None = "deeplabv3-mnv2-voc", rates: Sequence[int] = (6, 12, 18)
    ) -> None:
        self.graph = model if isinstance(model, ModelGraph) or model is None else read_graph(model)
        size = self.graph.summary.feature_size[0] if self.graph else 33
        self.rates = [widgets.IntSlider(r, min=1, max=64, description=f"rate {i + 1}") for i, r in enumerate(rates)]
        self.feature_size = widgets.IntSlider(size, min=5, max=129, description="map size")
        self.picture = _png_image()
        self.model_info = widgets.HTML(self._model_html())
        self.status = widgets.HTML()
        for s in (*self.rates, self.feature_size):
            s.observe(self._changed, names="value")
        super().__init__(
            [widgets.HBox([widgets.VBox([*self.rates, self.feature_size]), self.model_info]), self.picture, self.status]
        )
        self.redraw()

    def _model_html(self) -> str:
        if self.graph is None:
            return ""
        s = self.graph.summary
        branches = ", ".join(b.label() for b in s.aspp_branches) or "none found"
        return (
            f"<b>{html.escape(s.name)}</b>: encoder map {s.feature_size[0]}x{s.feature_size[1]} "
            f"(output stride {s.output_stride}); ASPP branches in the graph: {html.escape(branches)}"
        )

    def _changed(self, _change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Redraw the branches and the valid-tap curve; list each rate's share of taps inside the map."""
        rates = [s.value for s in self.rates]
        n = self.feature_size.value
        self.picture.value = viz.figure_png(viz.plot_aspp(rates, n))
        parts = []
        for r in rates:
            v = concepts.valid_taps(n, r)
            parts.append(f"rate {r}: {v.mean_fraction:.0%} of taps inside, centre only at {v.center_only:.0%}")
        self.status.value = info_html("; ".join(parts))
