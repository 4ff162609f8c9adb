"""Visualisation layer: images and matplotlib figures from results (no ipywidgets here).

`plot_segmentation` and the figures are imported on first use, so `deeplab_widgets.viz` does not load matplotlib
(the `widgets` extra installs it; without it, they raise `DependencyError` naming the extra).
"""

from __future__ import annotations

from typing import Any

from ..extras import require
from .confidence import HEAT_KINDS, heat_image, heat_values, no_scores_message
from .legend import LegendEntry, legend_entries, legend_html
from .masks import (
    boundaries,
    colorize,
    colorize_image,
    draw_boundaries,
    overlay,
    overlay_image,
    side_by_side,
    visible_mask,
)
from .render import DISPLAY_FORMAT, MODES, DisplayOptions, Rendered, Renderer, encode, figure_png, render
from .thumbnails import thumbnail

__all__ = [
    "DISPLAY_FORMAT",
    "HEAT_KINDS",
    "MODES",
    "DisplayOptions",
    "LegendEntry",
    "Rendered",
    "Renderer",
    "boundaries",
    "colorize",
    "colorize_image",
    "draw_boundaries",
    "encode",
    "figure_png",
    "heat_image",
    "heat_values",
    "legend_entries",
    "legend_html",
    "no_scores_message",
    "overlay",
    "overlay_image",
    "plot_segmentation",
    "render",
    "side_by_side",
    "thumbnail",
    "visible_mask",
]


#: Architecture figures (`viz/architecture.py`), imported on first use like `plot_segmentation`.
ARCHITECTURE_FIGURES = (
    "plot_aspp",
    "plot_block_diagram",
    "plot_boundary_errors",
    "plot_confidence",
    "plot_feature_maps",
    "plot_gridding",
    "plot_output_stride_costs",
    "plot_receptive_field",
    "plot_sampling_grid",
)

#: Evaluation and model-comparison figures (`viz/evaluation.py`), imported on first use.
EVALUATION_FIGURES = (
    "plot_accuracy_vs_latency",
    "plot_class_iou",
    "plot_confusion",
    "plot_disagreement",
    "plot_worst_images",
)


#: Quantization figures (`viz/quantization.py`), imported on first use.
QUANTIZATION_FIGURES = ("plot_layer_errors",)


def __getattr__(name: str) -> Any:
    if name == "plot_segmentation" or name in ARCHITECTURE_FIGURES or name in EVALUATION_FIGURES:
        require(name, "matplotlib")
    if name in QUANTIZATION_FIGURES:
        require(name, "matplotlib")
        from . import quantization

        return getattr(quantization, name)
    if name == "plot_segmentation":
        from .plot import plot_segmentation

        return plot_segmentation
    if name in ARCHITECTURE_FIGURES:
        from . import architecture

        return getattr(architecture, name)
    if name in EVALUATION_FIGURES:
        from . import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
