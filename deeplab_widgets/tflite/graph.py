"""A .tflite model's graph as a layer table: one `Layer` per operator with its geometry and cost.

Parsing only (shapes, kernel, stride, dilation = atrous rate, padding, activation, parameters, MACs,
theoretical receptive field); what the table says about DeepLab's design (encoder output stride,
ASPP, image pooling, decoder) is derived in `analysis.deeplab`. The flatbuffer is read by `tflite.schema`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ModelFormatError
from . import schema

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
UPSAMPLE_OPS = ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TILE", "BROADCAST_TO")
PASS_THROUGH_OPS = ("QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "RESHAPE", "CAST", *UPSAMPLE_OPS)
MERGE_OPS = ("CONCATENATION", "ADD")
_DATA_INPUT = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 0, "TRANSPOSE_CONV": 2, "FULLY_CONNECTED": 0}
_PADDING = {0: "same", 1: "valid"}
_ACTIVATION = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}


@dataclass(frozen=True)
class Layer:
    """One operator of the graph, with its geometry and cost."""

    index: int
    op: str
    name: str  # the output tensor's name (its first alias)
    inputs: tuple[int, ...]  # activation tensor indices (constants left out)
    outputs: tuple[int, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    kernel: tuple[int, int] | None  # (height, width) of the filter or pooling window
    stride: tuple[int, int]
    dilation: tuple[int, int]  # the atrous rate
    padding: str  # "same", "valid" or ""
    activation: str
    params: int
    macs: int
    receptive_field: int  # theoretical, in input pixels (height)
    jump: float  # input pixels between neighbouring output positions (cumulative stride)
    role: str = "other"  # set by `analysis.deeplab` (see its ROLES)

    @property
    def rate(self) -> int:
        """The atrous rate (dilation), 1 for an ordinary convolution."""
        return self.dilation[0]

    @property
    def spatial(self) -> tuple[int, int] | None:
        """(height, width) of the output feature map, None if it is not 4-D."""
        return (self.output_shape[1], self.output_shape[2]) if len(self.output_shape) == 4 else None

    @property
    def block(self) -> str:
        """The name up to its last component, e.g. `MobilenetV2/expanded_conv_7/depthwise`."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else self.name

    def describe(self) -> str:
        """A one-line description for lists and dropdowns."""
        shape = "x".join(str(d) for d in self.output_shape)
        extra = []
        if self.kernel:
            extra.append(f"{self.kernel[0]}x{self.kernel[1]}")
        if self.stride != (1, 1):
            extra.append(f"stride {self.stride[0]}")
        if self.rate > 1:
            extra.append(f"rate {self.rate}")
        more = f" ({', '.join(extra)})" if extra else ""
        return f"{self.index:3d} {self.op}{more} -> {shape}  [{self.role}] {self.name}"


@dataclass(frozen=True)
class LayerTable:
    """The parsed graph: one layer per operator, every tensor's name, the graph's input and outputs."""

    name: str
    size_bytes: int
    layers: tuple[Layer, ...]
    tensor_names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]  # of every tensor
    input_tensor: int
    output_tensors: tuple[int, ...]


def read_layers(content: bytes, name: str = "model") -> LayerTable:
    """Parse a .tflite file's bytes into its layer table; `name` names the model in tables and errors.

    Raises:
        ModelFormatError: The bytes are not a readable TFLite graph of an image model.
    """
    fb = schema.read_model(content, name)
    return _build(name, len(content), fb)


def _build(name: str, size: int, fb: Any) -> LayerTable:
    g = fb.subgraphs[0]
    tensors = g.tensors
    shapes = [schema.tensor_shape(t) for t in tensors]
    const = [schema.is_constant(fb, t) for t in tensors]
    graph_input = int(g.inputs[0])
    in_shape = shapes[graph_input]
    if len(in_shape) != 4:
        raise ModelFormatError(f"{name}: input shape {in_shape} is not an image batch (1 x H x W x C)")
    rf: dict[int, tuple[int, float]] = {graph_input: (1, 1.0)}
    jump_of_size: dict[int, float] = {in_shape[1]: 1.0}
    raw = []
    for i, op in enumerate(g.operators):
        opname = schema.op_name(fb, op)
        ins = [int(t) for t in op.inputs]
        acts: tuple[int, ...]
        if opname in _DATA_INPUT:  # weights may be computed (e.g. DEQUANTIZE of float16) but are not data
            acts = (ins[_DATA_INPUT[opname]],)
        else:
            acts = tuple(t for t in ins if t >= 0 and not const[t])
        outs = tuple(int(t) for t in op.outputs)
        out_shape = shapes[outs[0]] if outs else ()
        geo = _geometry(opname, schema.builtin_options(op), ins, shapes, out_shape)
        kernel, stride, dilation, padding, activation, params, macs = geo
        rfield, jump = _receptive_field(opname, kernel, stride, dilation, acts, shapes, out_shape, rf, jump_of_size)
        for t in outs:
            rf[t] = (rfield, jump)
        if len(out_shape) == 4 and out_shape[1] > 1:
            jump_of_size.setdefault(out_shape[1], jump)
        raw.append(
            dict(
                index=i,
                op=opname,
                name=schema.tensor_name(tensors[outs[0]]) if outs else "",
                inputs=acts,
                outputs=outs,
                input_shapes=tuple(shapes[t] for t in acts),
                output_shape=out_shape,
                kernel=kernel,
                stride=stride,
                dilation=dilation,
                padding=padding,
                activation=activation,
                params=params,
                macs=macs,
                receptive_field=rfield,
                jump=jump,
            )
        )
    return LayerTable(
        name=name,
        size_bytes=size,
        layers=tuple(Layer(**r) for r in raw),
        tensor_names=tuple(schema.tensor_name(t) for t in tensors),
        shapes=tuple(shapes),
        input_tensor=graph_input,
        output_tensors=tuple(int(t) for t in g.outputs),
    )


def _geometry(op: str, opt: Any, ins: list[int], shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> tuple:
    kernel, stride, dilation, padding, activation, params, macs = None, (1, 1), (1, 1), "", "none", 0, 0
    if opt is not None:
        stride = (int(getattr(opt, "strideH", 1) or 1), int(getattr(opt, "strideW", 1) or 1))
        dilation = (int(getattr(opt, "dilationHFactor", 1) or 1), int(getattr(opt, "dilationWFactor", 1) or 1))
        padding = _PADDING.get(getattr(opt, "padding", -1), "")
        activation = _ACTIVATION.get(getattr(opt, "fusedActivationFunction", 0), "other")
    out_pixels = out[1] * out[2] if len(out) == 4 else 1
    bias = shapes[ins[2]] if len(ins) > 2 and ins[2] >= 0 else ()
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = shapes[ins[1]]  # O x kh x kw x I (conv) or 1 x kh x kw x O (depthwise)
        kernel = (w[1], w[2])
        params = math.prod(w) + math.prod(bias or (0,))
        macs = out_pixels * math.prod(w)
    elif op == "TRANSPOSE_CONV":
        w, x = shapes[ins[1]], shapes[ins[2]]  # weights O x kh x kw x I, input 1 x h x w x I
        kernel = (w[1], w[2])
        bias = shapes[ins[3]] if len(ins) > 3 and ins[3] >= 0 else ()
        params = math.prod(w) + math.prod(bias or (0,))
        macs = x[1] * x[2] * math.prod(w)
    elif op == "FULLY_CONNECTED":
        w = shapes[ins[1]]  # O x I
        params = math.prod(w) + math.prod(bias or (0,))
        macs = math.prod(out[:-1] or (1,)) * math.prod(w)
    elif op in POOL_OPS and opt is not None:
        kernel = (int(opt.filterHeight), int(opt.filterWidth))
    elif op == "MEAN" and len(shapes[ins[0]]) == 4 and len(out) == 4 and out[1] == 1 < shapes[ins[0]][1]:
        kernel = (shapes[ins[0]][1], shapes[ins[0]][2])  # a global average over the spatial axes
    return kernel, stride, dilation, padding, activation, params, macs


def _receptive_field(op, kernel, stride, dilation, acts, shapes, out, rf, jump_of_size) -> tuple[int, float]:
    """Theoretical receptive field (rf' = rf + (k_eff - 1) * jump) and cumulative stride of the output."""
    known = [rf[t] for t in acts if t in rf]
    if not known:
        return 1, 1.0
    spatial = [rf[t] for t in acts if t in rf and len(shapes[t]) == 4 and shapes[t][1] > 1]
    rf_in = max(r for r, _ in known)
    jump_in = max(j for _, j in (spatial or known))
    if kernel is not None:
        k_eff = dilation[0] * (kernel[0] - 1) + 1
        return rf_in + (k_eff - 1) * round(jump_in), jump_in * stride[0]
    in_h = shapes[acts[0]][1] if acts and len(shapes[acts[0]]) == 4 else 0
    if op in UPSAMPLE_OPS and len(out) == 4 and in_h:
        grow = round(jump_in) if op == "RESIZE_BILINEAR" and in_h > 1 and out[1] != in_h else 0
        jump = jump_of_size.get(out[1], jump_in * in_h / out[1] if in_h > 1 else jump_in)
        return rf_in + grow, jump
    return rf_in, jump_in
