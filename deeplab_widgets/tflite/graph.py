"""A .tflite model's graph as a layer table, and what it says about DeepLab's design.

Reads the flatbuffer (TFLite schema) into one `Layer` per operator (shapes, kernel, stride,
dilation = atrous rate, padding, activation, parameters, MACs, theoretical receptive field),
then derives the encoder's output stride, where atrous convolution begins and its rates, the
ASPP branches including the image-pooling branch, and whether a decoder is present.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..core import tables
from ..core.model import ModelInput, ModelSpec, _read_model
from ..errors import BackendError, LayerNotFoundError, ModelFormatError
from .metadata import check_tflite

#: Where the generated TFLite schema module may be found, preferred first.
SCHEMA_MODULES = ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated")

#: Roles a layer can play, in the order they appear in a DeepLab graph.
ROLES = ("backbone", "atrous", "aspp", "decoder", "logits", "other")

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
    role: str

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
class ImagePooling:
    """DeepLab v3's image-level feature: global average pool, 1x1 conv, upsample, concatenate."""

    pool: int  # layer indices
    conv: int | None
    upsample: int | None
    concat: int
    channels: int  # channels of the pooled feature after the 1x1 conv


@dataclass(frozen=True)
class AsppBranch:
    """One parallel branch feeding the ASPP concatenation."""

    kind: str  # "image pooling", "1x1 conv", "atrous" or "conv"
    rate: int
    layers: tuple[int, ...]

    def label(self) -> str:
        """Short name, e.g. `atrous rate 6`."""
        return f"atrous rate {self.rate}" if self.kind == "atrous" else self.kind


@dataclass(frozen=True)
class Decoder:
    """DeepLab v3+'s decoder: upsampled encoder features merged with an early, finer feature map."""

    merge: int  # the concatenation (or add) layer
    skip_layer: int  # the layer that produced the early feature map
    skip_stride: int


@dataclass(frozen=True)
class GraphSummary:
    """What the graph says about the DeepLab design, derived from the layer table."""

    name: str
    backbone: str
    input_size: tuple[int, int]
    output_shape: tuple[int, ...]
    encoder_layer: int  # the layer producing the encoder's final feature map
    feature_size: tuple[int, int]
    output_stride: int
    atrous_start: int | None  # first layer with dilation > 1 in the encoder
    atrous_rates: tuple[int, ...]  # distinct rates in the encoder, in order of appearance
    image_pooling: ImagePooling | None
    aspp_branches: tuple[AsppBranch, ...]
    aspp_concat: int | None
    decoder: Decoder | None
    logits_layer: int | None
    logits_shape: tuple[int, ...]
    argmax_layer: int | None
    total_macs: int
    total_params: int
    size_bytes: int

    @property
    def has_decoder(self) -> bool:
        """True when a v3+ style decoder (skip connection from a finer map) was found."""
        return self.decoder is not None

    @property
    def aspp_rates(self) -> tuple[int, ...]:
        """Rates of the atrous ASPP branches (empty for the MobileNet configurations)."""
        return tuple(b.rate for b in self.aspp_branches if b.kind == "atrous")


@dataclass(frozen=True)
class ModelGraph:
    """A model's layer table and its summary."""

    layers: tuple[Layer, ...]
    summary: GraphSummary
    tensor_names: tuple[str, ...]

    def layer(self, key: int | str) -> Layer:
        """A layer by index, or by (a unique part of) its output tensor's name; `LayerNotFoundError` otherwise."""
        if isinstance(key, int):
            if not 0 <= key < len(self.layers):
                raise LayerNotFoundError(
                    f"no layer {key}; the graph has {len(self.layers)} layers: use an index from 0 to {len(self.layers) - 1}"
                )
            return self.layers[key]
        exact = [ly for ly in self.layers if ly.name == key]
        found = exact or [ly for ly in self.layers if key in ly.name]
        if len(found) != 1:
            raise LayerNotFoundError(f"{len(found)} layers match {key!r}; use an index or a longer name")
        return found[0]

    def by_role(self, role: str) -> tuple[Layer, ...]:
        """The layers playing one role (see `ROLES`)."""
        return tuple(ly for ly in self.layers if ly.role == role)

    def producer(self, tensor: int) -> Layer | None:
        """The layer whose output is `tensor`, None for graph inputs and constants."""
        return next((ly for ly in self.layers if tensor in ly.outputs), None)

    def format_table(self, layers: Iterable[Layer] | None = None) -> str:
        """A fixed-width text table of the layers (all by default)."""
        rows = [
            (
                str(ly.index),
                ly.op,
                "x".join(str(d) for d in ly.output_shape[1:] or ly.output_shape),
                str(ly.kernel[0]) if ly.kernel else "",
                str(ly.stride[0]),
                str(ly.rate),
                str(ly.receptive_field),
                f"{ly.macs / 1e6:.2f}",
                str(ly.params),
                ly.role,
            )
            for ly in (self.layers if layers is None else layers)
        ]
        header = ("#", "op", "output", "k", "s", "r", "RF", "MMACs", "params", "role")
        return tables.text_table(header, rows, left={1, 2, 9}, rule=False)


def schema_module() -> ModuleType:
    """The generated TFLite flatbuffer schema (shipped with ai-edge-litert)."""
    for name in SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BackendError("reading a model graph needs the TFLite schema; pip install ai-edge-litert")


def read_graph(model: ModelInput | ModelSpec) -> ModelGraph:
    """Parse a zoo id, .tflite path, model bytes or `ModelSpec` into its layer table and summary."""
    if isinstance(model, ModelSpec):
        name, content = model.name, model.content
    else:
        name, content, _ = _read_model(model)
    check_tflite(content, name)
    schema = schema_module()
    try:
        fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception as exc:  # a corrupt flatbuffer raises anything from IndexError to struct.error
        raise ModelFormatError(f"{name}: the TFLite graph could not be read ({type(exc).__name__}: {exc})") from exc
    if not fb.subgraphs:
        raise ModelFormatError(f"{name}: the model has no subgraph")
    return _build(name, len(content), fb, schema)


def _op_names(schema: ModuleType) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _tensor_name(t: Any) -> str:
    raw = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
    return raw.split(";")[0]


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape) if t.shape is not None else ()


def _is_constant(fb: Any, t: Any) -> bool:
    if not t.buffer or t.buffer >= len(fb.buffers):
        return False
    buf = fb.buffers[t.buffer]
    return (buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "offset", 0))


def _build(name: str, size: int, fb: Any, schema: ModuleType) -> ModelGraph:
    g = fb.subgraphs[0]
    opnames = _op_names(schema)
    tensors = g.tensors
    shapes = [_shape(t) for t in tensors]
    const = [_is_constant(fb, t) for t in tensors]
    graph_input = int(g.inputs[0])
    in_shape = shapes[graph_input]
    if len(in_shape) != 4:
        raise ModelFormatError(f"{name}: input shape {in_shape} is not an image batch (1 x H x W x C)")
    rf: dict[int, tuple[int, float]] = {graph_input: (1, 1.0)}
    jump_of_size: dict[int, float] = {in_shape[1]: 1.0}
    raw = []
    for i, op in enumerate(g.operators):
        code = fb.operatorCodes[op.opcodeIndex]
        opname = opnames.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        ins = [int(t) for t in op.inputs]
        acts: tuple[int, ...]
        if opname in _DATA_INPUT:  # weights may be computed (e.g. DEQUANTIZE of float16) but are not data
            acts = (ins[_DATA_INPUT[opname]],)
        else:
            acts = tuple(t for t in ins if t >= 0 and not const[t])
        outs = tuple(int(t) for t in op.outputs)
        out_shape = shapes[outs[0]] if outs else ()
        geo = _geometry(opname, op.builtinOptions, ins, shapes, out_shape)
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
                name=_tensor_name(tensors[outs[0]]) if outs else "",
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
    summary, roles = _summarise(name, size, raw, shapes, graph_input, [int(t) for t in g.outputs])
    layers = tuple(Layer(**r, role=roles[r["index"]]) for r in raw)
    return ModelGraph(layers, summary, tuple(_tensor_name(t) for t in tensors))


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


def _summarise(name, size, raw, shapes, graph_input, graph_outputs) -> tuple[GraphSummary, dict[int, str]]:
    producer = {t: r["index"] for r in raw for t in r["outputs"]}
    consumers: dict[int, list[int]] = {}
    for r in raw:
        for t in r["inputs"]:
            consumers.setdefault(t, []).append(r["index"])

    def reachable(layer: int, step) -> set[int]:
        seen, todo = set(), [layer]
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(step(i))
        return seen

    def ancestors(layer: int) -> set[int]:
        return reachable(layer, lambda i: [producer[t] for t in raw[i]["inputs"] if t in producer])

    def descendants(layer: int) -> set[int]:
        return reachable(layer, lambda i: [c for t in raw[i]["outputs"] for c in consumers.get(t, [])])

    in_h, in_w = shapes[graph_input][1], shapes[graph_input][2]
    pooling = _find_image_pooling(raw, consumers)
    if pooling is not None:
        encoder_tensor = raw[pooling.pool]["inputs"][0]
        encoder = producer.get(encoder_tensor, pooling.pool)
    else:
        encoder = _smallest_map(raw)
    enc = raw[encoder]
    feature = (enc["output_shape"][1], enc["output_shape"][2]) if len(enc["output_shape"]) == 4 else (1, 1)
    output_stride = round(enc["jump"])
    enc_anc = ancestors(encoder)
    dilated = [i for i in sorted(enc_anc) if raw[i]["dilation"][0] > 1]
    atrous_start = dilated[0] if dilated else None
    rates = tuple(dict.fromkeys(raw[i]["dilation"][0] for i in dilated))

    aspp_concat = pooling.concat if pooling else None
    branches: tuple[AsppBranch, ...] = ()
    aspp_layers: set[int] = set()
    if aspp_concat is not None:
        below = descendants(encoder) - {encoder}
        found = []
        for t in raw[aspp_concat]["inputs"]:
            if t not in producer:
                continue
            branch = sorted(ancestors(producer[t]) & below)
            aspp_layers.update(branch)
            found.append(_classify_branch(branch, raw, pooling))
        branches = tuple(found)
        aspp_layers.add(aspp_concat)
        nxt = consumers.get(raw[aspp_concat]["outputs"][0], [])
        if len(nxt) == 1 and raw[nxt[0]]["op"] == "CONV_2D" and raw[nxt[0]]["kernel"] == (1, 1):
            aspp_layers.add(nxt[0])  # the 1x1 projection after the concatenation

    convs = [r["index"] for r in raw if r["op"] in (*CONV_OPS, "FULLY_CONNECTED")]
    logits_layer = convs[-1] if convs else None
    argmax = next((r["index"] for r in raw if r["op"] == "ARG_MAX"), None)
    head_start = aspp_concat if aspp_concat is not None else encoder
    decoder = _find_decoder(
        raw, producer, descendants(head_start), head_start, feature, output_stride, ancestors, enc_anc
    )

    roles: dict[int, str] = {}
    logits_set = descendants(logits_layer) if logits_layer is not None else set()
    for r in raw:
        i = r["index"]
        if i in enc_anc:
            roles[i] = "atrous" if atrous_start is not None and i >= atrous_start else "backbone"
        elif i in aspp_layers:
            roles[i] = "aspp"
        elif i in logits_set:
            roles[i] = "logits"
        else:
            roles[i] = "decoder" if decoder is not None else "other"
    out_shape = shapes[graph_outputs[0]] if graph_outputs else ()
    summary = GraphSummary(
        name=name,
        backbone=_backbone_name(raw),
        input_size=(in_h, in_w),
        output_shape=out_shape,
        encoder_layer=encoder,
        feature_size=feature,
        output_stride=output_stride,
        atrous_start=atrous_start,
        atrous_rates=rates,
        image_pooling=pooling,
        aspp_branches=branches,
        aspp_concat=aspp_concat,
        decoder=decoder,
        logits_layer=logits_layer,
        logits_shape=raw[logits_layer]["output_shape"] if logits_layer is not None else (),
        argmax_layer=argmax,
        total_macs=sum(r["macs"] for r in raw),
        total_params=sum(r["params"] for r in raw),
        size_bytes=size,
    )
    return summary, roles


def _find_image_pooling(raw: list[dict], consumers: dict[int, list[int]]) -> ImagePooling | None:
    """A global pool (output 1x1 from a larger map) followed by a conv and an upsample into a concatenation."""
    for r in raw:
        ins = r["input_shapes"]
        if r["op"] not in ("AVERAGE_POOL_2D", "MEAN") or not ins or len(ins[0]) != 4 or len(r["output_shape"]) != 4:
            continue
        if r["output_shape"][1:3] != (1, 1) or ins[0][1] <= 1:
            continue
        conv = upsample = None
        current = r
        for _ in range(8):
            nxt = consumers.get(current["outputs"][0], [])
            if len(nxt) != 1:
                break
            current = raw[nxt[0]]
            if current["op"] == "CONCATENATION":
                channels = raw[conv]["output_shape"][-1] if conv is not None else r["output_shape"][-1]
                return ImagePooling(r["index"], conv, upsample, current["index"], channels)
            if current["op"] in CONV_OPS and conv is None:
                conv = current["index"]
            elif current["op"] in UPSAMPLE_OPS:
                upsample = current["index"]
            elif current["op"] not in PASS_THROUGH_OPS and current["op"] not in CONV_OPS:
                break
    return None


def _smallest_map(raw: list[dict]) -> int:
    """Without ASPP, the encoder ends at the last layer producing the smallest feature map (larger than 1x1)."""
    maps = [r for r in raw if len(r["output_shape"]) == 4 and r["output_shape"][1] > 1 and r["kernel"] is not None]
    if not maps:
        raise ModelFormatError("the graph has no convolution over a 2-D feature map")
    smallest = min(r["output_shape"][1] for r in maps)
    return [r["index"] for r in maps if r["output_shape"][1] == smallest][-1]


def _classify_branch(branch: list[int], raw: list[dict], pooling: ImagePooling | None) -> AsppBranch:
    if pooling is not None and pooling.pool in branch:
        return AsppBranch("image pooling", 1, tuple(branch))
    rates = [raw[i]["dilation"][0] for i in branch if raw[i]["kernel"] is not None]
    if any(rt > 1 for rt in rates):
        return AsppBranch("atrous", max(rates), tuple(branch))
    kernels = [raw[i]["kernel"] for i in branch if raw[i]["op"] in CONV_OPS]
    kind = "1x1 conv" if kernels and all(k == (1, 1) for k in kernels) else "conv"
    return AsppBranch(kind, 1, tuple(branch))


def _find_decoder(
    raw, producer, after: set[int], head_start: int, feature, output_stride, ancestors, encoder: set[int]
) -> Decoder | None:
    """A merge after the encoder/ASPP, larger than the encoder's map, with an input that comes from an
    earlier, finer encoder layer (the skip connection) rather than from the head."""
    for i in sorted(after):
        r = raw[i]
        if r["op"] not in MERGE_OPS or i == head_start or len(r["output_shape"]) != 4:
            continue
        if r["output_shape"][1] <= feature[0]:
            continue
        for t in r["inputs"]:
            p = producer.get(t)
            if p is None or p in after:
                continue
            skip = max(ancestors(p) & encoder, default=p)
            stride = round(raw[skip]["jump"])
            if stride < output_stride:
                return Decoder(i, skip, stride)
    return None


def _backbone_name(raw: list[dict]) -> str:
    for r in raw:
        if "/" in r["name"]:
            return r["name"].split("/")[0]
    return ""


#: Columns of `summary_row` / `markdown_table`.
SUMMARY_COLUMNS = (
    "model",
    "backbone",
    "input",
    "output stride",
    "atrous rates (encoder)",
    "ASPP branches",
    "decoder",
    "GMACs",
    "params",
    "size",
)


def summary_row(s: GraphSummary) -> tuple[str, ...]:
    """One row of the architecture table, as text (see `SUMMARY_COLUMNS`)."""
    return (
        s.name,
        s.backbone or "?",
        f"{s.input_size[0]}x{s.input_size[1]}",
        f"{s.output_stride} ({s.feature_size[0]}x{s.feature_size[1]})",
        ", ".join(map(str, s.atrous_rates)) or "none",
        " + ".join(b.label() for b in s.aspp_branches) or "none",
        f"yes (skip at stride {s.decoder.skip_stride})" if s.decoder else "no",
        f"{s.total_macs / 1e9:.2f}",
        f"{s.total_params / 1e6:.2f} M",
        f"{s.size_bytes / 1e6:.2f} MB",
    )


def markdown_table(summaries: Iterable[GraphSummary]) -> str:
    """A Markdown table of several models' summaries (for notebooks and the README)."""
    return tables.markdown_table(SUMMARY_COLUMNS, [summary_row(s) for s in summaries])
