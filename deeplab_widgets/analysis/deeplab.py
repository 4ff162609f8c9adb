"""What a model's layer table says about DeepLab's design: encoder, atrous convolution, ASPP, decoder.

From the parsed graph (`tflite.graph`) it derives the encoder's output stride, where atrous convolution
begins and its rates, the ASPP branches including the image-pooling branch, and DeepLab v3+'s decoder
(the low-level feature it taps, its projection, the concatenation, the refinement convs, the logits'
stride), gives each layer a role, and renders a summary table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..core import tables
from ..core.model import ModelInput, ModelSpec, read_model_file
from ..errors import LayerNotFoundError, ModelFormatError
from ..tflite.graph import CONV_OPS, MERGE_OPS, PASS_THROUGH_OPS, UPSAMPLE_OPS, Layer, LayerTable, read_layers

#: Roles a layer can play, in the order they appear in a DeepLab graph.
ROLES = ("backbone", "atrous", "aspp", "decoder", "logits", "other")


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
    """DeepLab v3+'s decoder: upsampled encoder features merged with an early, finer feature map.

    In the zoo's v3+ models: the encoder/ASPP output (32x32, stride 16) is bilinearly upsampled to
    128x128 (`upsample`), the stride-4 feature map of MobileNetV2's `expanded_conv_2` (`skip_layer`)
    is projected to 48 channels by a 1x1 conv (`projection`), the two are concatenated (`merge`),
    refined by two separable 3x3 convs (`refinement`), and the logits come out at stride 4.
    """

    merge: int  # the concatenation (or add) layer
    skip_layer: int  # the layer that produced the early (low-level) feature map
    skip_stride: int  # its output stride (4 in DeepLab v3+)
    projection: int | None = None  # the 1x1 conv reducing the low-level feature's channels
    projection_channels: int = 0  # 48 in DeepLab v3+
    upsample: int | None = None  # the layer upsampling the encoder features to the skip's resolution
    refinement: tuple[int, ...] = ()  # the convolutions between the merge and the logits
    logits_stride: int = 0  # output stride of the logits the decoder produces


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
        """A layer by index, or by (a unique part of) its output tensor's name; `LayerNotFoundError` otherwise.

        Args:
            key: A layer index, or (a unique part of) its output tensor's name.
        """
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
        """The layers playing one role (see `ROLES`).

        Args:
            role: One of `ROLES`.
        """
        return tuple(ly for ly in self.layers if ly.role == role)

    def producer(self, tensor: int) -> Layer | None:
        """The layer whose output is `tensor`, None for graph inputs and constants.

        Args:
            tensor: A tensor index.
        """
        return next((ly for ly in self.layers if tensor in ly.outputs), None)

    def format_table(self, layers: Iterable[Layer] | None = None) -> str:
        """A fixed-width text table of the layers (all by default).

        Args:
            layers: The layers to list (default: all).
        """
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


def read_graph(model: ModelInput | ModelSpec) -> ModelGraph:
    """Parse a zoo id, .tflite path, model bytes or `ModelSpec` into its layer table and DeepLab summary.

    Args:
        model: A zoo id, a `.tflite` path or bytes, or a `ModelSpec`.

    Raises:
        ModelNotFoundError: An unknown zoo id or a missing file.
        ModelFormatError: A file that is not a readable TFLite graph of an image model.
    """
    source = read_model_file(model)
    return summarise(read_layers(source.content, source.name))


def summarise(table: LayerTable) -> ModelGraph:
    """The DeepLab summary of a parsed graph, and its layers with their roles.

    Args:
        table: The parsed layer table of a graph.
    """
    raw = list(table.layers)
    summary, roles = _summarise(
        table.name, table.size_bytes, raw, list(table.shapes), table.input_tensor, list(table.output_tensors)
    )
    layers = tuple(replace(ly, role=roles[ly.index]) for ly in raw)
    return ModelGraph(layers, summary, table.tensor_names)


def _summarise(name, size, raw, shapes, graph_input, graph_outputs) -> tuple[GraphSummary, dict[int, str]]:
    producer = {t: r.index for r in raw for t in r.outputs}
    consumers: dict[int, list[int]] = {}
    for r in raw:
        for t in r.inputs:
            consumers.setdefault(t, []).append(r.index)

    def reachable(layer: int, step) -> set[int]:
        seen, todo = set(), [layer]
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(step(i))
        return seen

    def ancestors(layer: int) -> set[int]:
        return reachable(layer, lambda i: [producer[t] for t in raw[i].inputs if t in producer])

    def descendants(layer: int) -> set[int]:
        return reachable(layer, lambda i: [c for t in raw[i].outputs for c in consumers.get(t, [])])

    in_h, in_w = shapes[graph_input][1], shapes[graph_input][2]
    pooling = _find_image_pooling(raw, consumers)
    if pooling is not None:
        encoder_tensor = raw[pooling.pool].inputs[0]
        encoder = producer.get(encoder_tensor, pooling.pool)
    else:
        encoder = _smallest_map(raw)
    enc = raw[encoder]
    feature = (enc.output_shape[1], enc.output_shape[2]) if len(enc.output_shape) == 4 else (1, 1)
    output_stride = round(enc.jump)
    enc_anc = ancestors(encoder)
    dilated = [i for i in sorted(enc_anc) if raw[i].dilation[0] > 1]
    atrous_start = dilated[0] if dilated else None
    rates = tuple(dict.fromkeys(raw[i].dilation[0] for i in dilated))

    aspp_concat = pooling.concat if pooling else None
    branches: tuple[AsppBranch, ...] = ()
    aspp_layers: set[int] = set()
    if aspp_concat is not None:
        below = descendants(encoder) - {encoder}
        found = []
        for t in raw[aspp_concat].inputs:
            if t not in producer:
                continue
            branch = sorted(ancestors(producer[t]) & below)
            aspp_layers.update(branch)
            found.append(_classify_branch(branch, raw, pooling))
        branches = tuple(found)
        aspp_layers.add(aspp_concat)
        nxt = consumers.get(raw[aspp_concat].outputs[0], [])
        if len(nxt) == 1 and raw[nxt[0]].op == "CONV_2D" and raw[nxt[0]].kernel == (1, 1):
            aspp_layers.add(nxt[0])  # the 1x1 projection after the concatenation

    convs = [r.index for r in raw if r.op in (*CONV_OPS, "FULLY_CONNECTED")]
    logits_layer = convs[-1] if convs else None
    argmax = next((r.index for r in raw if r.op == "ARG_MAX"), None)
    head_start = aspp_concat if aspp_concat is not None else encoder
    decoder = _find_decoder(
        raw, producer, descendants(head_start), head_start, feature, output_stride, ancestors, enc_anc
    )
    if decoder is not None and logits_layer is not None:
        between = (descendants(decoder.merge) & ancestors(logits_layer)) - {decoder.merge, logits_layer}
        decoder = replace(
            decoder,
            refinement=tuple(i for i in sorted(between) if raw[i].op in CONV_OPS),
            logits_stride=round(raw[logits_layer].jump),
        )

    roles: dict[int, str] = {}
    logits_set = descendants(logits_layer) if logits_layer is not None else set()
    for r in raw:
        i = r.index
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
        logits_shape=raw[logits_layer].output_shape if logits_layer is not None else (),
        argmax_layer=argmax,
        total_macs=sum(r.macs for r in raw),
        total_params=sum(r.params for r in raw),
        size_bytes=size,
    )
    return summary, roles


def _find_image_pooling(raw: list[Layer], consumers: dict[int, list[int]]) -> ImagePooling | None:
    """A global pool (output 1x1 from a larger map) followed by a conv and an upsample into a concatenation."""
    for r in raw:
        ins = r.input_shapes
        if r.op not in ("AVERAGE_POOL_2D", "MEAN") or not ins or len(ins[0]) != 4 or len(r.output_shape) != 4:
            continue
        if r.output_shape[1:3] != (1, 1) or ins[0][1] <= 1:
            continue
        conv = upsample = None
        current = r
        for _ in range(8):
            nxt = consumers.get(current.outputs[0], [])
            if len(nxt) != 1:
                break
            current = raw[nxt[0]]
            if current.op == "CONCATENATION":
                channels = raw[conv].output_shape[-1] if conv is not None else r.output_shape[-1]
                return ImagePooling(r.index, conv, upsample, current.index, channels)
            if current.op in CONV_OPS and conv is None:
                conv = current.index
            elif current.op in UPSAMPLE_OPS:
                upsample = current.index
            elif current.op not in PASS_THROUGH_OPS and current.op not in CONV_OPS:
                break
    return None


def _smallest_map(raw: list[Layer]) -> int:
    """Without ASPP, the encoder ends at the last layer producing the smallest feature map (larger than 1x1)."""
    maps = [r for r in raw if len(r.output_shape) == 4 and r.output_shape[1] > 1 and r.kernel is not None]
    if not maps:
        raise ModelFormatError("the graph has no convolution over a 2-D feature map")
    smallest = min(r.output_shape[1] for r in maps)
    return [r.index for r in maps if r.output_shape[1] == smallest][-1]


def _classify_branch(branch: list[int], raw: list[Layer], pooling: ImagePooling | None) -> AsppBranch:
    if pooling is not None and pooling.pool in branch:
        return AsppBranch("image pooling", 1, tuple(branch))
    rates = [raw[i].dilation[0] for i in branch if raw[i].kernel is not None]
    if any(rt > 1 for rt in rates):
        return AsppBranch("atrous", max(rates), tuple(branch))
    kernels = [raw[i].kernel for i in branch if raw[i].op in CONV_OPS]
    kind = "1x1 conv" if kernels and all(k == (1, 1) for k in kernels) else "conv"
    return AsppBranch(kind, 1, tuple(branch))


def _find_decoder(
    raw, producer, after: set[int], head_start: int, feature, output_stride, ancestors, encoder: set[int]
) -> Decoder | None:
    """A merge after the encoder/ASPP, larger than the encoder's map, with an input that comes from an
    earlier, finer encoder layer (the skip connection) rather than from the head."""
    for i in sorted(after):
        r = raw[i]
        if r.op not in MERGE_OPS or i == head_start or len(r.output_shape) != 4:
            continue
        if r.output_shape[1] <= feature[0]:
            continue
        for t in r.inputs:
            p = producer.get(t)
            if p is None or p in after:
                continue
            skip = max(ancestors(p) & encoder, default=p)
            stride = round(raw[skip].jump)
            if stride < output_stride:
                projection = _back_through(raw, producer, p, CONV_OPS)
                others = [producer[u] for u in r.inputs if u != t and u in producer]
                upsample = next(
                    (u for o in others if (u := _back_through(raw, producer, o, UPSAMPLE_OPS)) is not None), None
                )
                channels = raw[projection].output_shape[-1] if projection is not None else 0
                return Decoder(i, skip, stride, projection, channels, upsample)
    return None


def _back_through(raw: list[Layer], producer: dict[int, int], layer: int, ops: tuple[str, ...]) -> int | None:
    """From `layer` back through pass-through ops (QUANTIZE, RELU, ...) to the first layer of type `ops`."""
    current: int | None = layer
    while current is not None:
        if raw[current].op in ops:
            return current
        if raw[current].op not in PASS_THROUGH_OPS or not raw[current].inputs:
            return None
        current = producer.get(raw[current].inputs[0])
    return None


def _backbone_name(raw: list[Layer]) -> str:
    for r in raw:
        if "/" in r.name:
            return r.name.split("/")[0]
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
    """One row of the architecture table, as text (see `SUMMARY_COLUMNS`).

    Args:
        s: A model's summary.
    """
    return (
        s.name,
        s.backbone or "?",
        f"{s.input_size[0]}x{s.input_size[1]}",
        f"{s.output_stride} ({s.feature_size[0]}x{s.feature_size[1]})",
        ", ".join(map(str, s.atrous_rates)) or "none",
        " + ".join(b.label() for b in s.aspp_branches) or "none",
        _decoder_cell(s.decoder) if s.decoder else "no",
        f"{s.total_macs / 1e9:.2f}",
        f"{s.total_params / 1e6:.2f} M",
        f"{s.size_bytes / 1e6:.2f} MB",
    )


def _decoder_cell(d: Decoder) -> str:
    parts = [f"skip at stride {d.skip_stride}"]
    if d.projection_channels:
        parts.append(f"{d.projection_channels}-ch projection")
    if d.logits_stride:
        parts.append(f"logits at stride {d.logits_stride}")
    return f"yes ({', '.join(parts)})"


def describe_decoder(graph: ModelGraph) -> str:
    """A few lines naming the decoder's parts and their shapes (empty when the model has no decoder).

    Args:
        graph: The model's graph (`read_graph`).
    """
    s, d = graph.summary, graph.summary.decoder
    if d is None:
        return ""

    def at(i: int | None) -> str:
        if i is None:
            return "not found"
        ly = graph.layers[i]
        return f"layer {i} {ly.op} {'x'.join(map(str, ly.output_shape[1:]))}  {ly.name}"

    lines = [
        f"encoder output stride {s.output_stride} ({s.feature_size[0]}x{s.feature_size[1]}): {at(s.encoder_layer)}",
        f"upsampled encoder features: {at(d.upsample)}",
        f"low-level feature (stride {d.skip_stride}): {at(d.skip_layer)}",
        f"low-level projection ({d.projection_channels} channels): {at(d.projection)}",
        f"concatenation: {at(d.merge)}",
        *(f"refinement: {at(i)}" for i in d.refinement),
        f"logits (output stride {d.logits_stride}): {at(s.logits_layer)}",
    ]
    return "\n".join(lines)


def markdown_table(summaries: Iterable[GraphSummary]) -> str:
    """A Markdown table of several models' summaries (for notebooks and the README).

    Args:
        summaries: One summary per model, in row order.
    """
    return tables.markdown_table(SUMMARY_COLUMNS, [summary_row(s) for s in summaries])
