"""Which number formats a model's tensors use: float or integer, scales and zero points, per tensor or per channel.

A quantized tensor stores integers q and a real value x = scale * (q - zero_point). One (scale, zero point)
pair for the whole tensor is *per-tensor* quantization; one pair per output channel of a convolution's
weights (`quantized_dimension` names the axis) is *per-channel*. The flatbuffer is read by `tflite.schema`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import LayerNotFoundError
from . import schema

#: Element types that hold real numbers directly (everything else in a weight tensor is quantized).
FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16")


@dataclass(frozen=True)
class TensorQuantization:
    """One tensor's number format: element type, shape, and its (scale, zero point) pairs if quantized."""

    index: int
    name: str
    dtype: str  # the schema's type name: FLOAT32, INT8, UINT8, INT16, INT4, ...
    shape: tuple[int, ...]
    constant: bool  # stored in the file (weights, biases), not computed
    scales: tuple[float, ...] = ()  # empty when not quantized
    zero_points: tuple[int, ...] = ()
    axis: int = 0  # the channel axis of per-channel scales

    @property
    def quantized(self) -> bool:
        """True when the tensor stores integers with scales (not real numbers)."""
        return bool(self.scales) and self.dtype not in FLOAT_TYPES

    @property
    def per_channel(self) -> bool:
        """True when every channel along `axis` has its own scale."""
        return len(self.scales) > 1

    def describe(self) -> str:
        """One line, e.g. `INT8 (16, 3, 3, 3), per-channel along axis 0: 16 scales 7.9e-12..0.084, zero point 0`."""
        if not self.quantized:
            return f"{self.dtype} {self.shape}"
        zeros = sorted(set(self.zero_points))
        zero = f"zero point {zeros[0]}" if len(zeros) == 1 else f"zero points {zeros[0]}..{zeros[-1]}"
        if self.per_channel:
            return (
                f"{self.dtype} {self.shape}, per-channel along axis {self.axis}: {len(self.scales)} scales "
                f"{min(self.scales):.2g}..{max(self.scales):.2g}, {zero}"
            )
        return f"{self.dtype} {self.shape}, per-tensor: scale {self.scales[0]:.3g}, {zero}"


def _tensor(model: Any, index: int) -> TensorQuantization:
    tensor = model.subgraphs[0].tensors[index]
    q = tensor.quantization
    scales = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
    zeros = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None else ()
    return TensorQuantization(
        index=index,
        name=schema.tensor_name(tensor),
        dtype=schema.tensor_type(tensor),
        shape=schema.tensor_shape(tensor),
        constant=schema.is_constant(model, tensor),
        scales=scales,
        zero_points=zeros or (0,) * len(scales),
        axis=int(q.quantizedDimension) if q is not None and scales else 0,
    )


def tensor_quantization(content: bytes, tensor: int | str) -> TensorQuantization:
    """The number format of one tensor of the first subgraph, by index or exact name (first alias).

    Raises:
        LayerNotFoundError: No tensor, or several, have that name; or the index is out of range.
        ModelFormatError: The file is not a readable TFLite model.
    """
    model = schema.read_model(content)
    tensors = model.subgraphs[0].tensors
    if isinstance(tensor, str):
        hits = [i for i, t in enumerate(tensors) if schema.tensor_name(t) == tensor]
        if len(hits) != 1:
            raise LayerNotFoundError(f"{len(hits)} tensors are named {tensor!r}; use an exact name or an index")
        return _tensor(model, hits[0])
    if not 0 <= tensor < len(tensors):
        raise LayerNotFoundError(f"tensor {tensor} is out of range (the model has {len(tensors)} tensors)")
    return _tensor(model, int(tensor))


def weight_values(content: bytes, tensor: int | str) -> tuple[np.ndarray, TensorQuantization]:
    """A constant tensor's stored values (the integers of a quantized tensor) and its number format.

    Raises:
        LayerNotFoundError: The tensor is not found, or it is computed (not stored in the file).
    """
    info = tensor_quantization(content, tensor)
    model = schema.read_model(content)
    if not info.constant:
        raise LayerNotFoundError(f"tensor {info.name!r} is computed by the model, not stored: it has no weights")
    data = model.buffers[model.subgraphs[0].tensors[info.index].buffer].data
    dtypes = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}
    dtypes |= {"INT32": np.int32, "INT64": np.int64}
    raw = np.asarray(data, np.uint8).tobytes()
    if info.dtype == "INT4":  # two signed 4-bit values per byte, low nibble first
        packed = np.frombuffer(raw, np.uint8)
        low, high = (packed & 0x0F).astype(np.int8), (packed >> 4).astype(np.int8)
        values = np.stack([low, high], axis=-1).ravel()[: int(np.prod(info.shape))]
        values = np.where(values > 7, values - 16, values).astype(np.int8)
    elif info.dtype in dtypes:
        values = np.frombuffer(raw, dtypes[info.dtype])
    else:
        raise LayerNotFoundError(f"tensor {info.name!r} has type {info.dtype}, which this function does not unpack")
    return values.reshape(info.shape), info


@dataclass(frozen=True)
class QuantizationSummary:
    """How a model stores its weights and computes its activations, counted by element type."""

    weights: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # type -> weight tensors
    activations: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # type -> computed tensors
    per_channel: int = 0  # quantized weight tensors with one scale per channel
    operators: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # op name -> count

    @property
    def quantized_weights(self) -> int:
        """Weight tensors stored as integers."""
        return sum(n for t, n in self.weights.items() if t not in FLOAT_TYPES)

    @property
    def quantized_activations(self) -> int:
        """Computed tensors held as integers (activations of a statically quantized model)."""
        return sum(n for t, n in self.activations.items() if t not in FLOAT_TYPES and t not in ("INT32", "INT64"))

    @property
    def is_quantized(self) -> bool:
        """True when any weight tensor is stored as integers."""
        return self.quantized_weights > 0

    def describe(self) -> str:
        """One line, e.g. `weights: 56 INT8 (56 per-channel); activations: 130 INT8; 71 ops`."""

        def counts(table: MappingProxyType) -> str:
            return ", ".join(f"{n} {t}" for t, n in sorted(table.items(), key=lambda kv: -kv[1])) or "none"

        per_channel = f" ({self.per_channel} per-channel)" if self.per_channel else ""
        return (
            f"weights: {counts(self.weights)}{per_channel}; activations: {counts(self.activations)}; "
            f"{sum(self.operators.values())} ops"
        )


def summarize(content: bytes, name: str = "model") -> QuantizationSummary:
    """Count the element types of a model's weights (constant tensors of 2 or more dimensions) and activations.

    Raises:
        ModelFormatError: The file is not a readable TFLite model.
    """
    model = schema.read_model(content, name)
    graph = model.subgraphs[0]
    weights: Counter[str] = Counter()
    activations: Counter[str] = Counter()
    per_channel = 0
    for index in range(len(graph.tensors)):
        info = _tensor(model, index)
        if info.constant:
            if len(info.shape) >= 2:
                weights[info.dtype] += 1
                per_channel += info.quantized and info.per_channel
        else:
            activations[info.dtype] += 1
    operators = Counter(schema.op_name(model, op) for op in graph.operators)
    return QuantizationSummary(
        weights=MappingProxyType(dict(weights)),
        activations=MappingProxyType(dict(activations)),
        per_channel=per_channel,
        operators=MappingProxyType(dict(operators)),
    )
