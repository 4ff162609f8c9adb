"""Where a quantized model departs from its float model, layer by layer, through `Probe`.

Both models run once on the same photo with every tensor kept; each layer of the float graph is matched with
the layer of the quantized graph that has the same output tensor name (LiteRT's quantizer keeps the names), and
integer tensors are dequantized. The signal-to-noise ratio `SNR = 10 log10(sum f^2 / sum (f - q)^2)` of the
quantized output `q` against the float output `f` says how much of the float signal survives up to that
layer. The error a layer itself adds is the growth of the relative noise `sum (f - q)^2 / sum f^2` from its
worst input to its output (`added_noise`; a ReLU6 or a pooling can also shrink it, which counts as nothing
added).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.images import ImageInput, load_image
from ..core.model import ModelInput, ModelSpec
from ..core.segmenter import Segmenter
from ..core.tables import markdown_table
from ..errors import LayerNotFoundError
from .intermediates import Activations, Probe

#: An SNR reported for a layer whose quantized output equals the float one exactly (no noise at all).
EXACT_DB = 120.0


@dataclass(frozen=True)
class LayerError:
    """How far one layer's quantized output is from the float model's.

    Attributes:
        index: The layer's index in the float graph.
        name: Its output tensor's name.
        op: Its operator (CONV_2D, ...).
        snr_db: Signal-to-noise ratio of the quantized output against the float one, in dB (higher is closer).
        cosine: Cosine similarity of the two outputs (1 = same direction).
        added_noise: The relative noise (noise energy over signal energy) this layer adds to its worst input's.
    """

    index: int
    name: str
    op: str
    snr_db: float
    cosine: float
    added_noise: float

    @property
    def added_db(self) -> float:
        """`added_noise` as an SNR in dB: the signal against the noise this layer adds (lower is worse)."""
        return EXACT_DB if self.added_noise <= 10 ** (-EXACT_DB / 10) else -10 * math.log10(self.added_noise)


@dataclass(frozen=True)
class LayerErrors:
    """Every layer's error for one quantized model against its float model, on one photo."""

    model: str
    reference: str
    photo: str
    layers: tuple[LayerError, ...] = field(repr=False)

    def worst(self, n: int = 5) -> list[LayerError]:
        """The `n` layers that add the most noise, worst first."""
        return sorted(self.layers, key=lambda e: -e.added_noise)[:n]

    @property
    def output_snr_db(self) -> float:
        """The SNR of the last layer's output (the logits, resized): the error that reaches the class map."""
        return self.layers[-1].snr_db

    def table(self, n: int = 5) -> str:
        """A Markdown table of the `n` layers that lose the most."""
        rows = [
            [str(e.index), e.op, e.name, f"{e.snr_db:.1f}", f"{e.added_noise:.2%}", f"{e.cosine:.4f}"]
            for e in self.worst(n)
        ]
        return markdown_table(["layer", "op", "output", "SNR dB", "noise added (of signal)", "cosine"], rows)


def snr_db(reference: np.ndarray, value: np.ndarray) -> float:
    """10 log10 of the reference's energy over the difference's, in dB (`EXACT_DB` when they are equal)."""
    f = np.asarray(reference, np.float64)
    noise = float(np.square(f - np.asarray(value, np.float64)).sum())
    signal = float(np.square(f).sum())
    if noise == 0:
        return EXACT_DB
    if signal == 0:
        return -EXACT_DB
    return min(EXACT_DB, 10 * math.log10(signal / noise))


def cosine(reference: np.ndarray, value: np.ndarray) -> float:
    """Cosine similarity of two tensors, flattened (1.0 when both are zero)."""
    a, b = np.asarray(reference, np.float64).ravel(), np.asarray(value, np.float64).ravel()
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms else 1.0


def _probe(model: ModelInput | ModelSpec | Segmenter | Probe) -> Probe:
    return model if isinstance(model, Probe) else Probe(model)


def _values(acts: Activations, name: str) -> np.ndarray | None:
    try:
        return acts.values(name)
    except LayerNotFoundError:
        return None


def layer_errors(
    reference: ModelInput | ModelSpec | Segmenter | Probe,
    quantized: ModelInput | ModelSpec | Segmenter | Probe,
    image: ImageInput,
    *,
    name: str | None = None,
) -> LayerErrors:
    """Compare every layer of the float model with the same layer (same output tensor name) of a quantized one.

    Both run once on `image` with every tensor kept (`Probe`); integer tensors are dequantized. Layers the
    quantized graph does not have (none, for the quantizer's output) are left out.

    Raises:
        LayerNotFoundError: No layer of the float model is found in the quantized one.
    """
    photo = load_image(image)
    float_probe, quant_probe = _probe(reference), _probe(quantized)
    f, q = float_probe.run(photo), quant_probe.run(photo)
    input_snr: dict[int, float] = {}

    def snr_of(index: int) -> float:
        if index not in input_snr:
            x, y = f.values(index), _values(q, f.info(index).name)
            input_snr[index] = snr_db(x, y) if y is not None and y.shape == x.shape else EXACT_DB
        return input_snr[index]

    errors = []
    for layer in float_probe.graph.layers:
        x, y = f.values(layer.outputs[0]), _values(q, layer.name)
        if y is None or y.shape != x.shape:
            continue
        out = snr_db(x, y)
        input_snr[layer.outputs[0]] = out
        worst_input = min((snr_of(i) for i in layer.inputs), default=EXACT_DB)
        added = max(0.0, 10 ** (-out / 10) - 10 ** (-worst_input / 10))
        errors.append(LayerError(layer.index, layer.name, layer.op, out, cosine(x, y), added))
    if not errors:
        raise LayerNotFoundError(
            f"no layer of {float_probe.spec.name} was found (by output name) in {quant_probe.spec.name}"
        )
    label = name or quant_probe.spec.name
    where = Path(image).name if isinstance(image, (str, os.PathLike)) else "a photo"
    return LayerErrors(label, float_probe.spec.name, where, tuple(errors))
