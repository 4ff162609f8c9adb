"""Quantization figures: where in the network a quantized model loses the float model's signal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis.layer_errors import LayerErrors
from ..errors import OptionsError


def short_name(tensor: str) -> str:
    """A layer's output name without the backbone scope and the fused-op tail: `expanded_conv_15/project`."""
    parts = [p for p in tensor.split("/") if p not in ("MobilenetV2", "BatchNorm", "FusedBatchNorm")]
    return "/".join(parts[:2]) or tensor


def plot_layer_errors(
    errors: LayerErrors | Sequence[LayerErrors], *, top: int = 5, figsize: tuple[float, float] = (10.0, 6.5)
) -> Figure:
    """SNR along the network for each variant (top), and the noise each layer adds for the first one (bottom).

    The top panel shows how much of the float signal survives at each layer's output; the bottom panel's bars
    are the noise each layer itself adds (as a share of the signal's energy), with the `top` worst layers named.
    """
    variants = [errors] if isinstance(errors, LayerErrors) else list(errors)
    if not variants:
        raise OptionsError("plot_layer_errors needs the layer errors of at least one quantized model")
    fig = Figure(figsize=figsize, layout="constrained")
    snr_ax, lost_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    for e in variants:
        x = [layer.index for layer in e.layers]
        snr_ax.plot(x, [layer.snr_db for layer in e.layers], marker=".", lw=1.2, label=e.model)
    snr_ax.set_ylabel("SNR at the layer's output (dB)")
    snr_ax.set_title(f"quantized vs float {variants[0].reference}, layer by layer, on {variants[0].photo}")
    snr_ax.grid(alpha=0.3)
    snr_ax.legend(fontsize=8, loc="upper right")
    first = variants[0]
    indices = np.array([layer.index for layer in first.layers])
    added = np.array([100 * layer.added_noise for layer in first.layers])
    worst = {layer.index for layer in first.worst(top)}
    colors = ["#c0392b" if i in worst else "#7f8c8d" for i in indices]
    lost_ax.bar(indices, added, color=colors, width=0.8)
    for layer in first.worst(top):
        lost_ax.annotate(
            short_name(layer.name),
            (layer.index, 100 * layer.added_noise),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            rotation=30,
        )
    lost_ax.set_ylim(0, max(added.max(), 1e-6) * 1.35)  # room for the names above the bars
    lost_ax.set_ylabel(f"noise the layer adds\n(% of signal, {first.model})")
    lost_ax.set_xlabel("layer (graph order)")
    lost_ax.grid(alpha=0.3, axis="y")
    return fig
