"""Deriving a DeepLab model from a real one: another output stride, input size, or no image pooling, same weights.

DeepLab v3's central experiment runs the *same* weights at output stride 16 and 8. That is a graph edit:
the encoder's strides and atrous rates follow one rule (slim's MobileNet and ResNet builders): walk the
backbone's strided layers; once the running stride reaches the target, a layer that would stride runs at
stride 1 instead and every later layer's rate is multiplied by the stride it skipped. `derive` reads which
layers those are from the parsed graph (`analysis.deeplab`'s roles: the encoder's spatial convolutions, the
image-pooling branch, ASPP, decoder), recovers each layer's natural stride (a rate increase after a
stride-1 layer means that layer's stride became the rate), re-applies the rule for the requested stride,
and recomputes every tensor's shape, the image-pooling window and the RESIZE_BILINEAR size constants.
The weights are not touched (except the ASPP projection's input channels of a removed image-pooling branch).

The derived file carries the source's class names (a `labelmap.txt` zip appended, as TFLite metadata
does), so it runs everywhere a model does: `Segmenter.from_file`, batch, video and `evaluate`.
Derivations are cached in the registry's cache folder under the source's SHA-256 and the parameters.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..assets import registry
from ..core.export import atomic_path
from ..core.labels import LABEL_SETS
from ..core.model import ModelInput, ModelSpec, load_model, read_model_file
from ..core.preprocess import ResizeMode
from ..core.runtime import RuntimeOptions
from ..core.segmenter import Segmenter
from ..errors import DeriveError, OptionsError
from ..tflite import schema
from ..tflite.graph import CONV_OPS, MERGE_OPS, PASS_THROUGH_OPS, POOL_OPS, UPSAMPLE_OPS, Layer
from ..tflite.metadata import read_dataset, read_labels, with_labels
from .deeplab import ModelGraph, read_graph

#: The output strides `derive` accepts (each only where the backbone reaches it).
OUTPUT_STRIDES = (8, 16, 32)
#: Input sides `derive` accepts: from a few feature cells up to a size that still fits in memory comfortably.
INPUT_SIZE_RANGE = (65, 1025)
#: Changes whenever the edits change, so cached derivations of an older version are not reused.
DERIVE_VERSION = 3
#: Subfolder of the registry's cache folder that holds derived models.
CACHE_FOLDER = "derived"

_ELEMENTWISE = ("ADD", "MUL", "SUB", "MAXIMUM", "MINIMUM")
_SAME_SHAPE = (*PASS_THROUGH_OPS, "LOGISTIC", "HARD_SWISH", "TANH", "LEAKY_RELU", "PRELU", "RELU_N1_TO_1")


@dataclass(frozen=True)
class DerivedModel:
    """A model derived from a real one, with what was changed.

    `content` is the .tflite file; `path` the cached copy (None when derived with `cache=False`).
    `edits` says, layer by layer, what `derive` changed. `resize` is the source's resize mode.
    """

    source: str
    source_digest: str
    content: bytes = field(repr=False)
    output_stride: int
    input_size: tuple[int, int]
    feature_size: tuple[int, int]
    image_pooling: bool
    class_names: tuple[str, ...]
    resize: ResizeMode
    edits: tuple[str, ...] = field(repr=False)
    path: Path | None = None

    @property
    def name(self) -> str:
        """A short name for tables, e.g. `deeplabv3-starter OS 16 257px`."""
        pooling = "" if self.image_pooling else " no-pool"
        return f"{self.source} OS {self.output_stride} {self.input_size[0]}px{pooling}"

    def load(self, options: RuntimeOptions | None = None) -> ModelSpec:
        """The derived model loaded like any model (`load_model`), named after the derivation."""
        return replace(load_model(self.content, options=options), name=self.name)

    def segmenter(self, options: RuntimeOptions | None = None, *, resize: ResizeMode | None = None) -> Segmenter:
        """A `Segmenter` for the derived model, with the source's resize mode unless `resize` is given."""
        options = options or RuntimeOptions()
        return Segmenter(self.load(options), options, resize=resize or self.resize)


def derive(
    model: ModelInput | ModelSpec,
    *,
    output_stride: int | None = None,
    input_size: int | None = None,
    image_pooling: bool = True,
    cache: bool = True,
) -> DerivedModel:
    """The same weights at another output stride and/or input size, optionally without image pooling.

    Args:
        model: A zoo id, a .tflite path, its bytes or a `ModelSpec`.
        output_stride: 8, 16 or 32 (where the backbone reaches it); None keeps the model's.
        input_size: The new square input side in pixels (DeepLab's sizes are k x 16 + 1: 257, 321, 385, 513);
            the image-pooling window and resize sizes follow. None keeps the model's.
        image_pooling: False removes DeepLab v3's image-level branch: its input channels of the ASPP projection
            are dropped, which equals feeding that branch zeros.
        cache: Reuse and keep the result in the registry's cache folder (`derived/`), keyed by the source's
            SHA-256 and the parameters; the file is written atomically.

    Raises:
        ModelNotFoundError: An unknown zoo id or a missing file.
        ModelFormatError: Not a readable TFLite image model.
        OptionsError: An output stride outside `OUTPUT_STRIDES` or an input size outside `INPUT_SIZE_RANGE`.
        DeriveError: The graph does not fit (the message names the op): no DeepLab encoder rule, a stride the
            backbone cannot reach, an op whose shape `derive` cannot follow, or a graph the interpreter refuses.
    """
    source = read_model_file(model)
    name, content, info = source.name, source.content, source.zoo
    _check_options(output_stride, input_size)
    digest = hashlib.sha256(content).hexdigest()
    params = {"output_stride": output_stride, "input_size": input_size, "image_pooling": image_pooling}
    key = hashlib.sha256(json.dumps([digest, params, DERIVE_VERSION]).encode()).hexdigest()[:16]
    target = cache_path(name, key) if cache else None
    if target is not None and (cached := _read_cached(target)) is not None:
        return cached
    graph = read_graph(model)
    labels, dataset = _labels(content, info, graph)
    resize: ResizeMode = info.resize if info is not None else "stretch"
    edited, edits = _derive(content, graph, output_stride, input_size, image_pooling)
    out = with_labels(schema.write_model(edited, len(content)), labels, dataset)
    _check_runs(out, name)
    result_graph = read_graph(out)
    s = result_graph.summary
    derived = DerivedModel(
        source=name,
        source_digest=digest,
        content=out,
        output_stride=s.output_stride,
        input_size=s.input_size,
        feature_size=s.feature_size,
        image_pooling=s.image_pooling is not None,
        class_names=labels,
        resize=resize,
        edits=tuple(edits),
    )
    if target is not None:
        _write_cached(target, derived)
        derived = replace(derived, path=target)
    return derived


def cache_path(source: str, key: str) -> Path:
    """Where a derivation of `source` with parameter key `key` is cached."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(source).stem)[:48]
    return registry.cache_dir() / CACHE_FOLDER / f"{safe}-{key}.tflite"


def save(derived: DerivedModel, path: str | Path) -> Path:
    """Write a derived model's file atomically (a second run replaces it whole)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(derived.content)
    return target


def reachable_strides(model: ModelInput | ModelSpec | ModelGraph) -> tuple[int, ...]:
    """The output strides of `OUTPUT_STRIDES` this model's backbone can run at (empty if it does not fit)."""
    graph = model if isinstance(model, ModelGraph) else read_graph(model)
    try:
        natural = _natural_strides(graph)
    except DeriveError:
        return ()
    steps = [s for s in natural.values() if s > 1]
    prefixes = {math.prod(steps[:i]) for i in range(len(steps) + 1)}
    return tuple(s for s in OUTPUT_STRIDES if s in prefixes)


# ---------------------------------------------------------------- options, labels, cache


def _check_options(output_stride: int | None, input_size: int | None) -> None:
    if output_stride is not None and output_stride not in OUTPUT_STRIDES:
        raise OptionsError(f"output stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, not {output_stride!r}")
    lo, hi = INPUT_SIZE_RANGE
    if input_size is not None and (
        isinstance(input_size, bool) or not isinstance(input_size, numbers.Integral) or not lo <= input_size <= hi
    ):
        raise OptionsError(f"input size must be a whole number of pixels from {lo} to {hi}, not {input_size!r}")


def _labels(content: bytes, info: Any, graph: ModelGraph) -> tuple[tuple[str, ...], str | None]:
    """The source's class names and the name of its label set (None for a user model without one)."""
    dataset = info.dataset if info is not None else read_dataset(content)
    names = read_labels(content)
    if names is None and dataset in LABEL_SETS:
        names = LABEL_SETS[dataset].names
    if names is None:
        shape = graph.summary.logits_shape
        names = tuple(f"class {i}" for i in range(shape[-1] if shape else 0))
    return tuple(names), dataset if dataset in LABEL_SETS else None


def _read_cached(path: Path) -> DerivedModel | None:
    manifest = path.with_suffix(".json")
    if not (path.is_file() and manifest.is_file()):
        return None
    try:
        meta = json.loads(manifest.read_text("utf-8"))
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != meta.pop("sha256"):
            return None  # a damaged copy: derive again
        return DerivedModel(
            content=content,
            path=path,
            **{
                **meta,
                "input_size": tuple(meta["input_size"]),
                "feature_size": tuple(meta["feature_size"]),
                "class_names": tuple(meta["class_names"]),
                "edits": tuple(meta["edits"]),
            },
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cached(path: Path, derived: DerivedModel) -> None:
    meta = {
        "source": derived.source,
        "source_digest": derived.source_digest,
        "sha256": hashlib.sha256(derived.content).hexdigest(),
        "output_stride": derived.output_stride,
        "input_size": list(derived.input_size),
        "feature_size": list(derived.feature_size),
        "image_pooling": derived.image_pooling,
        "class_names": list(derived.class_names),
        "resize": derived.resize,
        "edits": list(derived.edits),
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(derived.content)
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")


def _check_runs(content: bytes, name: str) -> None:
    """Let the interpreter prepare the derived graph, so a graph it refuses fails here, with the reason."""
    from ..core.runtime import make_interpreter

    try:
        make_interpreter(content, RuntimeOptions(num_threads=1))
    except Exception as exc:  # the interpreter raises RuntimeError/ValueError with its own message
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeriveError(f"{name}: the interpreter refuses the derived graph ({reason})") from exc


# ---------------------------------------------------------------- the encoder rule


def _spatial_encoder_layers(graph: ModelGraph) -> list[Layer]:
    """The encoder's layers that move over space: convolutions and pools with a kernel larger than 1x1."""
    pooling = graph.summary.image_pooling
    return [
        ly
        for ly in graph.layers
        if ly.role in ("backbone", "atrous")
        and ly.op in (*CONV_OPS, *POOL_OPS)
        and ly.kernel is not None
        and ly.kernel != (1, 1)
        and (pooling is None or ly.index != pooling.pool)
    ]


def _natural_strides(graph: ModelGraph) -> dict[int, int]:
    """Each spatial encoder layer's stride before atrous convolution replaced strides by rates.

    A rate increase from one spatial layer to the next means the earlier one's stride became that rate.
    Raises `DeriveError` when the rates do not follow the rule (a rate that falls, or grows by no whole factor).
    """
    natural: dict[int, int] = {}
    previous: Layer | None = None
    rate = 1
    for ly in _spatial_encoder_layers(graph):
        if ly.dilation[0] != ly.dilation[1] or ly.stride[0] != ly.stride[1]:
            raise DeriveError(f"{_describe(ly)}: different strides or rates along height and width")
        natural[ly.index] = ly.stride[0]
        if ly.rate != rate:
            if previous is None or ly.rate < rate or ly.rate % rate or previous.stride != (1, 1):
                raise DeriveError(
                    f"{_describe(ly)}: its atrous rate {ly.rate} (after rate {rate}) does not follow DeepLab's rule "
                    "(a stride turned into a rate), so derive cannot re-stride this encoder"
                )
            natural[previous.index] = ly.rate // rate
            rate = ly.rate
        previous = ly
    if not natural:
        raise DeriveError(f"{graph.summary.name}: no strided or dilated convolution found in the encoder")
    return natural


def _schedule(natural: dict[int, int], target: int) -> dict[int, tuple[int, int]]:
    """(stride, rate) of every spatial encoder layer at output stride `target` (slim's builders' rule)."""
    current, rate, out = 1, 1, {}
    for index, step in natural.items():
        if step > 1 and current >= target:
            out[index] = (1, rate)
            rate *= step
        else:
            out[index] = (step, rate)
            current *= step
    return out


def _describe(ly: Layer) -> str:
    return f"layer {ly.index} {ly.op} ({ly.name})"


# ---------------------------------------------------------------- the edit


def _derive(
    content: bytes, graph: ModelGraph, output_stride: int | None, input_size: int | None, image_pooling: bool
) -> tuple[Any, list[str]]:
    s = graph.summary
    fb = schema.read_model(content, s.name)
    if len(fb.subgraphs) != 1:
        raise DeriveError(f"{s.name}: {len(fb.subgraphs)} subgraphs; derive edits single-graph models only")
    g = fb.subgraphs[0]
    edits: list[str] = []
    target = output_stride or s.output_stride
    natural = _natural_strides(graph)
    own = _schedule(natural, s.output_stride)
    for index, (stride, rate) in own.items():
        ly = graph.layers[index]
        if (ly.stride[0], ly.rate) != (stride, rate):
            raise DeriveError(
                f"{_describe(ly)}: stride {ly.stride[0]} and rate {ly.rate} do not follow DeepLab's rule at the "
                f"model's output stride {s.output_stride} (expected stride {stride}, rate {rate})"
            )
    if target != s.output_stride:
        reachable = reachable_strides(graph)
        if target not in reachable:
            raise DeriveError(
                f"{s.name}: output stride {target} is out of this backbone's reach (it can run at "
                f"{', '.join(map(str, reachable)) or 'no other stride'})"
            )
        if s.decoder is not None and target < s.decoder.skip_stride:
            raise DeriveError(f"{s.name}: output stride {target} is finer than its decoder's skip connection")
        for index, (stride, rate) in _schedule(natural, target).items():
            ly = graph.layers[index]
            if (ly.stride[0], ly.rate) == (stride, rate):
                continue
            if ly.op in POOL_OPS and rate > 1:
                raise DeriveError(f"{_describe(ly)}: a pooling layer cannot take atrous rate {rate}")
            opt = g.operators[index].builtinOptions
            opt.strideH = opt.strideW = stride
            if ly.op in CONV_OPS:
                opt.dilationHFactor = opt.dilationWFactor = rate
            changes = [f"stride {ly.stride[0]} -> {stride}" if stride != ly.stride[0] else ""]
            changes.append(f"rate {ly.rate} -> {rate}" if rate != ly.rate else "")
            edits.append(f"{_describe(ly)}: {', '.join(c for c in changes if c)}")
        edits.extend(_scale_aspp_rates(g, graph, s.output_stride, target))
    if not image_pooling:
        edits.extend(_remove_image_pooling(fb, graph))
    if input_size is not None and input_size != s.input_size[0]:
        edits.append(f"input: {s.input_size[0]}x{s.input_size[1]} -> {input_size}x{input_size}")
    _reshape(fb, graph, input_size, edits)
    return fb, edits


def _scale_aspp_rates(g: Any, graph: ModelGraph, own: int, target: int) -> list[str]:
    """ASPP's atrous branches keep their field of view in pixels: rate x own / target (v3 doubles them at OS 8)."""
    edits = []
    for branch in graph.summary.aspp_branches:
        if branch.kind != "atrous":
            continue
        for index in branch.layers:
            ly = graph.layers[index]
            if ly.op not in CONV_OPS or ly.rate == 1:
                continue
            new = ly.rate * own / target
            if new != int(new) or new < 1:
                raise DeriveError(f"{_describe(ly)}: ASPP rate {ly.rate} has no whole equivalent at stride {target}")
            opt = g.operators[index].builtinOptions
            opt.dilationHFactor = opt.dilationWFactor = int(new)
            edits.append(f"{_describe(ly)}: ASPP rate {ly.rate} -> {int(new)}")
    return edits


def _remove_image_pooling(fb: Any, graph: ModelGraph) -> list[str]:
    """Drop the image-level branch and its input channels of the ASPP projection (= the branch fed zeros)."""
    s = graph.summary
    pooling = s.image_pooling
    if pooling is None:
        raise DeriveError(f"{s.name}: the graph has no image-pooling branch to remove")
    g = fb.subgraphs[0]
    branch = next(b for b in s.aspp_branches if b.kind == "image pooling")
    concat = g.operators[pooling.concat]
    inputs = [int(t) for t in concat.inputs]
    branch_out = next((t for t in inputs if any(t in graph.layers[i].outputs for i in branch.layers)), None)
    if branch_out is None:
        raise DeriveError(f"{_describe(graph.layers[pooling.concat])}: no input comes from the image-pooling branch")
    projection = [ly for ly in graph.layers if graph.layers[pooling.concat].outputs[0] in ly.inputs]
    if len(projection) != 1 or projection[0].op != "CONV_2D" or projection[0].kernel != (1, 1):
        raise DeriveError(
            f"{_describe(graph.layers[pooling.concat])}: the ASPP concatenation does not feed a single 1x1 "
            "projection, so the image-pooling branch cannot be dropped"
        )
    axis = concat.builtinOptions.axis if concat.builtinOptions is not None else -1
    if axis not in (3, -1):
        raise DeriveError(f"{_describe(graph.layers[pooling.concat])}: concatenates along axis {axis}, not channels")
    start = sum(schema.tensor_shape(g.tensors[t])[-1] for t in inputs[: inputs.index(branch_out)])
    width = schema.tensor_shape(g.tensors[branch_out])[-1]
    op = g.operators[projection[0].index]
    weights = g.tensors[int(op.inputs[1])]
    w = _constant(fb, weights)
    kept = np.concatenate([w[..., :start], w[..., start + width :]], axis=-1)
    _set_constant(fb, weights, kept)
    kept_inputs = [t for t in inputs if t != branch_out]
    removed = set(branch.layers)
    if len(kept_inputs) == 1:  # one input left: the projection reads it directly (XNNPACK has no 1-input concat)
        op.inputs = np.array([kept_inputs[0], *[int(t) for t in op.inputs[1:]]], np.int32)
        removed.add(pooling.concat)
    else:
        concat.inputs = np.array(kept_inputs, np.int32)
    g.operators = [o for i, o in enumerate(g.operators) if i not in removed]
    names = ", ".join(f"{i} {graph.layers[i].op}" for i in sorted(removed))
    return [
        f"image pooling removed: layers {names}",
        f"{_describe(projection[0])}: input channels {w.shape[-1]} -> {kept.shape[-1]} "
        f"(the image-level branch's {width} dropped)",
    ]


def _constant(fb: Any, tensor: Any) -> np.ndarray:
    """A constant tensor's data as an array of its type and shape."""
    dtype = _numpy_types().get(tensor.type)
    if dtype is None:
        raise DeriveError(
            f"tensor {schema.tensor_name(tensor)!r}: a constant of TFLite type {tensor.type} cannot be edited"
        )
    data = np.asarray(fb.buffers[tensor.buffer].data, np.uint8).tobytes()
    return np.frombuffer(data, dtype).reshape(schema.tensor_shape(tensor))


@cache
def _numpy_types() -> dict[int, type]:
    t = schema.schema_module().TensorType
    return {t.FLOAT32: np.float32, t.INT32: np.int32, t.UINT8: np.uint8, t.INT8: np.int8, t.INT64: np.int64}


def _set_constant(fb: Any, tensor: Any, value: np.ndarray) -> None:
    """Give `tensor` a new buffer holding `value` (buffers may be shared, so none is edited in place)."""
    buffer = schema.schema_module().BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(value).tobytes(), np.uint8)
    fb.buffers.append(buffer)
    tensor.buffer = len(fb.buffers) - 1
    _set_shape(tensor, value.shape)


def _set_shape(tensor: Any, shape: Sequence[int]) -> None:
    tensor.shape = np.array(shape, np.int32)
    if tensor.shapeSignature is not None and len(tensor.shapeSignature):
        tensor.shapeSignature = np.array(shape, np.int32)


# ---------------------------------------------------------------- shapes


def _reshape(fb: Any, graph: ModelGraph, input_size: int | None, edits: list[str]) -> None:
    """Recompute every activation's shape after the edits; update pooling windows and resize/tile sizes."""
    g = fb.subgraphs[0]
    ops = list(g.operators)
    original = {i: schema.tensor_shape(t) for i, t in enumerate(g.tensors)}
    producer = {int(t): k for k, op in enumerate(ops) for t in op.outputs}
    consumers: dict[int, list[int]] = {}
    for k, op in enumerate(ops):
        for t in op.inputs:
            consumers.setdefault(int(t), []).append(k)
    graph_input = int(g.inputs[0])
    in_shape = original[graph_input]
    shapes: dict[int, tuple[int, ...]] = {}
    if input_size is not None:
        shapes[graph_input] = (in_shape[0], input_size, input_size, in_shape[3])
    names = {int(t): schema.tensor_name(g.tensors[int(t)]) for op in ops for t in op.outputs}

    def label(k: int) -> str:
        op = ops[k]
        out = int(op.outputs[0]) if len(op.outputs) else -1
        return f"op {schema.op_name(fb, op)} ({names.get(out, '')})"

    def shape(t: int) -> tuple[int, ...]:
        if t in shapes:
            return shapes[t]
        if t not in producer:
            shapes[t] = original[t]
            return shapes[t]
        k = producer[t]
        for out, new in zip((int(o) for o in ops[k].outputs), _infer(k), strict=True):
            shapes[out] = new
        return shapes[t]

    def merge_target(k: int) -> tuple[int, int] | None:
        """The spatial size of what an upsample's output is merged with, following pass-through ops."""
        t = int(ops[k].outputs[0])
        for _ in range(8):
            nxt = consumers.get(t, [])
            if len(nxt) != 1:
                return None
            op = ops[nxt[0]]
            name = schema.op_name(fb, op)
            if name in (*MERGE_OPS, "MUL"):
                others = [int(u) for u in op.inputs if int(u) != t and len(original.get(int(u), ())) == 4]
                sizes = {_hw(shape(u)) for u in others if original[u][1] > 1}
                return sizes.pop() if len(sizes) == 1 else None
            if name not in PASS_THROUGH_OPS:
                return None
            t = int(op.outputs[0])
        return None

    def upsample_size(k: int, inp: tuple[int, ...]) -> tuple[int, int]:
        out = original[int(ops[k].outputs[0])]
        merged = merge_target(k)
        if merged is not None:
            return merged
        if out[1:3] == in_shape[1:3]:
            return _hw(shape(graph_input))
        if out[1:3] == original[int(ops[k].inputs[0])][1:3]:
            return _hw(inp)
        raise DeriveError(
            f"{label(k)}: resizes to {out[1]}x{out[2]}, neither the input size, its own input's size, nor the "
            "size of a map it is merged with, so derive cannot tell its new size"
        )

    def _infer(k: int) -> list[tuple[int, ...]]:
        op = ops[k]
        name = schema.op_name(fb, op)
        ins = [int(t) for t in op.inputs]
        outs = [int(t) for t in op.outputs]
        data = [shape(t) if t >= 0 else () for t in ins]
        unchanged = all(data[i] == original[t] for i, t in enumerate(ins) if t >= 0)
        if unchanged and name not in (*CONV_OPS, *UPSAMPLE_OPS):  # convs may have a new stride; upsamples a new target
            return [original[t] for t in outs]
        opt = op.builtinOptions
        x = data[0]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = data[1]
            kh, kw = w[1], w[2]
            h = _conv_out(x[1], kh, opt.strideH, opt.dilationHFactor, opt.padding)
            wd = _conv_out(x[2], kw, opt.strideW, opt.dilationWFactor, opt.padding)
            return [(x[0], h, wd, w[0] if name == "CONV_2D" else w[3])]
        if name in POOL_OPS:
            before_in = original[ins[0]]
            before_out = original[outs[0]]
            if before_out[1:3] == (1, 1) and (opt.filterHeight, opt.filterWidth) == tuple(before_in[1:3]):
                global_stride = (opt.strideH, opt.strideW) == (opt.filterHeight, opt.filterWidth)
                opt.filterHeight, opt.filterWidth = x[1], x[2]
                if global_stride:
                    opt.strideH, opt.strideW = x[1], x[2]
                edits.append(f"{label(k)}: image-pooling window {before_in[1]}x{before_in[2]} -> {x[1]}x{x[2]}")
                return [(x[0], 1, 1, x[3])]
            h = _conv_out(x[1], opt.filterHeight, opt.strideH, 1, opt.padding)
            wd = _conv_out(x[2], opt.filterWidth, opt.strideW, 1, opt.padding)
            return [(x[0], h, wd, x[3])]
        if name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
            size = upsample_size(k, x)
            before = tuple(int(v) for v in _constant(fb, g.tensors[ins[1]]))
            if before != size:
                t = schema.add_tensor(
                    fb, [2], "INT32", f"deeplab_widgets/derive/size_{k}", np.array(size, np.int32).tobytes()
                )
                op.inputs = np.array([ins[0], t, *ins[2:]], np.int32)
                original[t] = (2,)
                edits.append(f"{label(k)}: size {before[0]}x{before[1]} -> {size[0]}x{size[1]}")
            return [(x[0], size[0], size[1], x[3])]
        if name == "TILE":
            size = upsample_size(k, x)
            if size[0] % x[1] or size[1] % x[2]:
                raise DeriveError(f"{label(k)}: cannot tile {x[1]}x{x[2]} to {size[0]}x{size[1]}")
            multiples = (1, size[0] // x[1], size[1] // x[2], 1)
            before = tuple(int(v) for v in _constant(fb, g.tensors[ins[1]]))
            if before != multiples:
                t = schema.add_tensor(
                    fb, [4], "INT32", f"deeplab_widgets/derive/tile_{k}", np.array(multiples, np.int32).tobytes()
                )
                op.inputs = np.array([ins[0], t], np.int32)
                original[t] = (4,)
                edits.append(f"{label(k)}: tile {before[1]}x{before[2]} -> {multiples[1]}x{multiples[2]}")
            return [(x[0], size[0], size[1], x[3])]
        if name == "CONCATENATION":
            axis = opt.axis % len(x)
            acts = [d for d in data if len(d) == len(x)]
            rest = {tuple(d[i] for i in range(len(d)) if i != axis) for d in acts}
            if len(rest) != 1:
                raise DeriveError(f"{label(k)}: its inputs no longer agree in shape ({', '.join(map(str, acts))})")
            return [tuple(sum(d[axis] for d in acts) if i == axis else x[i] for i in range(len(x)))]
        if name in _ELEMENTWISE:
            a, b = data[0], data[1]
            try:
                return [tuple(np.broadcast_shapes(a, b))]
            except ValueError:
                raise DeriveError(f"{label(k)}: its inputs no longer have matching shapes ({a} and {b})") from None
        if name in _SAME_SHAPE:
            return [x for _ in outs]
        if name == "ARG_MAX":
            axis = int(_constant(fb, g.tensors[ins[1]]).ravel()[0]) % len(x)
            return [tuple(d for i, d in enumerate(x) if i != axis)]
        if name == "MEAN" and len(x) == 4:
            axes = {int(a) % 4 for a in _constant(fb, g.tensors[ins[1]]).ravel()}
            if axes == {1, 2}:
                keep = bool(getattr(opt, "keepDims", False))
                return [(x[0], 1, 1, x[3]) if keep else (x[0], x[3])]
        raise DeriveError(f"{label(k)}: derive does not know how this op's output shape follows a changed input shape")

    for op in ops:
        for t in op.outputs:
            shape(int(t))
    for t, new in shapes.items():
        if new != original.get(t) and t < len(g.tensors):
            _set_shape(g.tensors[t], new)


def _hw(shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) of an N x H x W x C shape."""
    return shape[1], shape[2]


def _conv_out(size: int, kernel: int, stride: int, rate: int, padding: int) -> int:
    """Output length of a convolution or pool: SAME keeps ceil(size / stride), VALID drops the kernel's span."""
    if padding == schema.schema_module().Padding.SAME:
        return -(-size // stride)
    span = rate * (kernel - 1) + 1
    if size < span:
        raise DeriveError(f"a {kernel}-tap window at rate {rate} spans {span} px, more than the {size} px map")
    return (size - span) // stride + 1
