"""The one reader and writer of the .tflite flatbuffer (TFLite's `schema.fbs`).

Every other module reads a model file through these functions: the layer table (`tflite.graph`),
output grafting (`tflite.outputs`) and the location of the TFLITE_METADATA buffer (`tflite.metadata`,
which alone parses the separate *metadata* schema, not shipped with LiteRT). The generated Python
schema comes with `ai-edge-litert` (or TensorFlow).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendError, ModelFormatError

#: Where the generated TFLite flatbuffer schema module may be found, preferred first.
SCHEMA_MODULES = ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated")

#: Name of the model metadata entry that holds the TFLite metadata flatbuffer.
METADATA_NAME = "TFLITE_METADATA"


def check_tflite(content: bytes, name: str = "model") -> None:
    """Raise `ModelFormatError` unless `content` carries the TFLite file identifier."""
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ModelFormatError(f"{name} is not a TFLite model (no 'TFL3' identifier in its header)")


@cache
def schema_module() -> ModuleType:
    """The generated TFLite flatbuffer schema (shipped with ai-edge-litert); `BackendError` without it."""
    for name in SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BackendError("reading a model graph needs the TFLite schema; pip install ai-edge-litert")


def read_model(content: bytes, name: str = "model") -> Any:
    """The whole model as the schema's object tree (`ModelT`); `ModelFormatError` if it cannot be parsed."""
    check_tflite(content, name)
    schema = schema_module()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception as exc:  # a corrupt flatbuffer raises anything from IndexError to struct.error
        raise ModelFormatError(f"{name}: the TFLite graph could not be read ({type(exc).__name__}: {exc})") from exc
    if not model.subgraphs:
        raise ModelFormatError(f"{name}: the model has no subgraph")
    _inline_buffers(model, content, name)
    return model


def _inline_buffers(model: Any, content: bytes, name: str) -> None:
    """Copy buffers stored after the flatbuffer (`offset` > 1, as LiteRT's quantizer writes them) into the tree.

    `write_model` packs only the flatbuffer itself: without this, a model read and written again would point at
    data that is no longer there ("Constant buffer N specified an out of range offset").
    """
    for buf in model.buffers or ():
        offset, size = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset <= 1:
            continue
        if offset + size > len(content):
            raise ModelFormatError(f"{name}: a weight buffer lies beyond the end of the file (truncated?)")
        buf.data = np.frombuffer(content, np.uint8, count=size, offset=offset)
        buf.offset = buf.size = 0


def write_model(model: Any, size_hint: int = 0) -> bytes:
    """Serialise an object tree from `read_model` (after surgery) back into .tflite bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@cache
def _op_names() -> dict[int, str]:
    ops = schema_module().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def op_name(model: Any, op: Any) -> str:
    """The builtin operator name of `op` (e.g. `CONV_2D`), `CUSTOM` for custom ops."""
    code = model.operatorCodes[op.opcodeIndex]
    return _op_names().get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")


def tensor_name(tensor: Any) -> str:
    """A tensor's name; fused names (`a;b;c`) are shortened to their first alias."""
    raw = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name or "")
    return raw.split(";")[0]


def tensor_shape(tensor: Any) -> tuple[int, ...]:
    """A tensor's static shape (empty for scalars and unknown shapes)."""
    return tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()


@cache
def _type_names() -> dict[int, str]:
    types = schema_module().TensorType
    return {v: k for k, v in vars(types).items() if not k.startswith("_") and isinstance(v, int)}


def tensor_type(tensor: Any) -> str:
    """A tensor's element type by its schema name, e.g. `FLOAT32`, `INT8`, `INT16`."""
    return _type_names().get(int(tensor.type), f"TYPE_{tensor.type}")


def is_constant(model: Any, tensor: Any) -> bool:
    """True when the tensor's data is stored in the file (weights, biases, sizes), not computed."""
    if not tensor.buffer or tensor.buffer >= len(model.buffers):
        return False
    buf = model.buffers[tensor.buffer]
    return (buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "offset", 0))


def builtin_options(op: Any) -> Any:
    """The operator's builtin options object (strides, padding, dilation, ...), None if it has none."""
    return op.builtinOptions


def metadata_buffer(content: bytes, name: str = METADATA_NAME) -> bytes | None:
    """The bytes of the model buffer that metadata entry `name` points to, None if there is none.

    Reads only the Model table's metadata and buffers vectors (the weights are not copied).
    """
    schema = schema_module()
    try:
        model = schema.Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if (entry.Name() or b"").decode("utf-8", "replace") != name:
                continue
            index = entry.Buffer()
            if index >= model.BuffersLength():
                return None
            buf = model.Buffers(index)
            if buf.DataLength():
                return buf.DataAsNumpy().tobytes()
            if buf.Offset() and buf.Size():  # large models keep buffers after the flatbuffer
                return bytes(content[buf.Offset() : buf.Offset() + buf.Size()])
    except Exception:  # a malformed table: the caller falls back to defaults; the interpreter reports it
        return None
    return None


def operator_inputs(content: bytes, op: str) -> list[tuple[int, ...]]:
    """The input tensor indices of every operator of type `op` (e.g. "ARG_MAX") in the first subgraph.

    Reads only the operator tables (no weights are copied), so it is cheap enough for load time.
    """
    schema = schema_module()
    model = schema.Model.GetRootAs(content, 0)
    if not model.SubgraphsLength():
        return []
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    wanted = {i for i, c in enumerate(codes) if _op_names().get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode())) == op}
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.OperatorsLength()):
        operator = graph.Operators(i)
        if operator.OpcodeIndex() in wanted:
            found.append(tuple(int(t) for t in operator.InputsAsNumpy()))
    return found


def resize_bilinear_input(content: bytes, tensor: int) -> tuple[int, bool, bool] | None:
    """(input tensor, align_corners, half_pixel_centers) of the RESIZE_BILINEAR that writes `tensor`, if one does.

    Reads only the operator tables (no weights are copied), so it is cheap enough for load time.
    """
    schema = schema_module()
    model = schema.Model.GetRootAs(content, 0)
    if not model.SubgraphsLength():
        return None
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    resize = {
        i
        for i, c in enumerate(codes)
        if _op_names().get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode())) == "RESIZE_BILINEAR"
    }
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        operator = graph.Operators(i)
        if operator.OpcodeIndex() not in resize or tensor not in operator.OutputsAsNumpy():
            continue
        options = schema.ResizeBilinearOptions()
        table = operator.BuiltinOptions()
        align = half = False
        if table is not None:
            options.Init(table.Bytes, table.Pos)
            align, half = bool(options.AlignCorners()), bool(options.HalfPixelCenters())
        return int(operator.Inputs(0)), align, half
    return None


def tensors_named(content: bytes, name: str) -> list[tuple[int, tuple[int, ...]]]:
    """(index, shape) of every tensor of the first subgraph whose name (first alias) is `name`."""
    schema = schema_module()
    model = schema.Model.GetRootAs(content, 0)
    if not model.SubgraphsLength():
        return []
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if (tensor.Name() or b"").decode("utf-8", "replace").split(";")[0] == name:
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
            found.append((i, shape))
    return found


def add_tensor(
    model: Any, shape: Sequence[int], dtype: str, name: str, data: bytes | None = None, quantization: Any = None
) -> int:
    """Append a tensor (with its own buffer, holding `data` for a constant) to the first subgraph."""
    schema = schema_module()
    graph = model.subgraphs[0]
    buffer = schema.BufferT()
    if data is not None:
        buffer.data = np.frombuffer(data, np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape = np.array(shape, np.int32)
    tensor.type = getattr(schema.TensorType, dtype)
    tensor.name = name.encode()
    tensor.buffer = len(model.buffers) - 1
    tensor.quantization = quantization
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def add_argmax(model: Any, scores: int, labels: int, axis: int) -> None:
    """Append an ARG_MAX operator (int32 output) reading tensor `scores` along tensor `axis` into `labels`."""
    schema = schema_module()
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ARG_MAX
    code.version = 1
    model.operatorCodes.append(code)
    op = schema.OperatorT()
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.inputs, op.outputs = np.array([scores, axis], np.int32), np.array([labels], np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.ArgMaxOptions
    op.builtinOptions = schema.ArgMaxOptionsT()
    op.builtinOptions.outputType = schema.TensorType.INT32
    model.subgraphs[0].operators.append(op)


def set_outputs(model: Any, outputs: Sequence[int]) -> None:
    """Make `outputs` (tensor indices of the first subgraph) the model's outputs, in this order."""
    model.subgraphs[0].outputs = np.array(list(outputs), np.int32)


def operator_model(content: bytes, index: int, name: str = "model") -> bytes:
    """Operator `index` of the first subgraph alone, as a model of its own: its first input in, its output out.

    Its constants (weights, bias) keep their values and quantization, so the one-operator model runs exactly the
    kernel that operator runs inside the whole graph: timing it measures one layer's kernel, e.g. a convolution's
    float against its int8 version. `ModelFormatError` for an index out of range.
    """
    model = read_model(content, name)
    graph = model.subgraphs[0]
    if not 0 <= index < len(graph.operators):
        raise ModelFormatError(f"{name}: no operator {index} (the graph has {len(graph.operators)})")
    op = graph.operators[index]
    graph.operators = [op]
    graph.inputs = np.array([int(op.inputs[0])], np.int32)
    set_outputs(model, [int(op.outputs[0])])
    model.signatureDefs = []
    return write_model(model, len(content))
