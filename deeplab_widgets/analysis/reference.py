"""DeepLab's forward pass in plain NumPy: one small function per operator of the float graphs.

`forward(model, x)` runs a float .tflite model (the starter, or any derivation of it: another output
stride, input size, no image pooling) op by op with the functions below and returns the output tensor
the interpreter would return, to within float32 rounding. It is a teaching reference: every step of
DeepLab (atrous depthwise convolution with SAME padding, the image-level branch's average pool and
bilinear upsampling with the graph's own alignment flags, the concatenation and the projection) is a
few lines of NumPy that can be read, checked and re-written. It is slow next to the interpreter.

Quantized models are refused (their arithmetic is integer with per-tensor rescaling, a different
lesson), and so is any op not implemented here; `ReferenceForwardError` names the op.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..core.model import ModelInput, ModelSpec, read_model_file
from ..core.scores import Upsampling
from ..core.scores import resize_bilinear as upsample
from ..core.size import Size
from ..errors import ReferenceForwardError
from ..tflite import schema

#: TFLite's fused activation codes, as functions.
ACTIVATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    0: lambda x: x,
    1: lambda x: np.maximum(x, 0),
    2: lambda x: np.clip(x, -1, 1),
    3: lambda x: np.clip(x, 0, 6),
}
_SAME = 0


# ---------------------------------------------------------------- the operators


def same_padding(size: int, kernel: int, stride: int, rate: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one axis: output ceil(size / stride), extra pixel after."""
    span = rate * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: int, rate: int, padding: str) -> tuple[np.ndarray, ...]:
    """The padded input and, per tap (i, j), the strided view of the pixels that tap reads for every output."""
    _, h, w, _ = x.shape
    kh, kw = kernel
    if padding == "same":
        (top, bottom), (left, right) = same_padding(h, kh, stride, rate), same_padding(w, kw, stride, rate)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = (x.shape[1] - rate * (kh - 1) - 1) // stride + 1
    ow = (x.shape[2] - rate * (kw - 1) - 1) // stride + 1
    return tuple(
        x[:, i * rate : i * rate + (oh - 1) * stride + 1 : stride, j * rate : j * rate + (ow - 1) * stride + 1 : stride]
        for i in range(kh)
        for j in range(kw)
    )


def conv2d(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    *,
    stride: int = 1,
    rate: int = 1,
    padding: str = "same",
) -> np.ndarray:
    """Convolution: `weights` O x kh x kw x I; each tap's pixels times its I x O matrix, summed over taps."""
    _, kh, kw, _ = weights.shape
    taps = _windows(x, (kh, kw), stride, rate, padding)
    out = sum(tap @ weights[:, k // kw, k % kw, :].T for k, tap in enumerate(taps))
    return np.asarray(out, np.float32) + (bias if bias is not None else np.float32(0))


def depthwise_conv2d(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    *,
    stride: int = 1,
    rate: int = 1,
    padding: str = "same",
) -> np.ndarray:
    """Depthwise convolution: `weights` 1 x kh x kw x C; every channel filtered on its own (multiplier 1).

    With `rate` > 1 this is DeepLab's atrous convolution: tap (i, j) reads the pixel `rate` * (i, j) away.
    """
    _, kh, kw, channels = weights.shape
    if channels != x.shape[-1]:
        raise ReferenceForwardError(f"depthwise multiplier {channels // x.shape[-1]} is not implemented (only 1)")
    taps = _windows(x, (kh, kw), stride, rate, padding)
    out = sum(tap * weights[0, k // kw, k % kw] for k, tap in enumerate(taps))
    return np.asarray(out, np.float32) + (bias if bias is not None else np.float32(0))


def average_pool2d(x: np.ndarray, kernel: tuple[int, int], *, stride: int, padding: str = "valid") -> np.ndarray:
    """Average pool; with SAME padding the padded pixels are not counted (as TFLite does)."""
    ones = np.ones((*x.shape[:3], 1), np.float32)
    sums = sum(_windows(x, kernel, stride, 1, padding))
    counts = sum(_windows(ones, kernel, stride, 1, padding))
    return np.asarray(sums / counts, np.float32)


def resize_bilinear(
    x: np.ndarray, size: tuple[int, int], *, align_corners: bool = False, half_pixel_centers: bool = False
) -> np.ndarray:
    """Bilinear resize of N x H x W x C to `size` as TFLite computes it, with the graph's alignment flags.

    align_corners maps the first and last pixels onto each other (scale (in - 1) / (out - 1)); half-pixel
    centres sample at (out + 0.5) x scale - 0.5; the legacy default samples at out x in / out
    (`core.scores.resize_bilinear`, which the viewer's coarse scores use too).
    """
    upsampling = Upsampling(align_corners, half_pixel_centers)
    return np.stack([upsample(image, Size(*size), upsampling) for image in x])


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise sum (MobileNetV2's residual connections)."""
    return a + b


def concatenation(inputs: list[np.ndarray], axis: int = -1) -> np.ndarray:
    """Stack feature maps along the channel axis (ASPP's branches)."""
    return np.concatenate(inputs, axis=axis)


# ---------------------------------------------------------------- the graph


@dataclass(frozen=True)
class RefOp:
    """One operator of the graph: its type, tensors, options (stride, rate, padding, ...) and constants."""

    index: int
    op: str
    name: str  # the output tensor's name
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any]
    constants: Mapping[int, np.ndarray] = field(repr=False)

    @property
    def weights(self) -> np.ndarray:
        """The filter of a convolution (O x kh x kw x I, or 1 x kh x kw x C for a depthwise one)."""
        return self.constants[self.inputs[1]]

    @property
    def bias(self) -> np.ndarray | None:
        """The bias of a convolution, None if it has none."""
        return self.constants.get(self.inputs[2]) if len(self.inputs) > 2 else None


@dataclass(frozen=True)
class ReferenceModel:
    """A float model's operators and constants, ready to run in NumPy (`run`)."""

    name: str
    ops: tuple[RefOp, ...]
    constants: Mapping[int, np.ndarray] = field(repr=False)
    input_index: int
    output_index: int
    input_shape: tuple[int, ...]

    def run(self, x: np.ndarray) -> np.ndarray:
        """The output tensor for input tensor `x` (shaped and scaled as the interpreter takes it)."""
        return self.run_all(x)[self.output_index]

    def run_all(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Every activation tensor of one run, by tensor index (the input included).

        Raises `ReferenceForwardError` when `x` does not have the model's input shape.
        """
        x = np.asarray(x, np.float32)
        if x.shape != self.input_shape:
            raise ReferenceForwardError(f"{self.name} takes a {self.input_shape} input tensor, not {x.shape}")
        tensors: dict[int, np.ndarray] = {self.input_index: x}
        for op in self.ops:
            args = [tensors[t] if t in tensors else self.constants.get(t) for t in op.inputs]
            tensors[op.outputs[0]] = KERNELS[op.op](op, args)
        return tensors


def _options(op: str, opt: Any) -> dict[str, Any]:
    if opt is None:
        return {}
    out: dict[str, Any] = {"activation": int(getattr(opt, "fusedActivationFunction", 0) or 0)}
    if hasattr(opt, "strideH"):
        out["stride"] = int(opt.strideH)
        if int(opt.strideW) != out["stride"]:
            raise ReferenceForwardError(f"{op} with different strides along height and width is not implemented")
    if hasattr(opt, "dilationHFactor"):
        out["rate"] = int(opt.dilationHFactor)
    if hasattr(opt, "padding"):
        out["padding"] = "same" if opt.padding == _SAME else "valid"
    if hasattr(opt, "filterHeight"):
        out["kernel"] = (int(opt.filterHeight), int(opt.filterWidth))
    for key in ("alignCorners", "halfPixelCenters", "axis", "depthMultiplier"):
        if hasattr(opt, key):
            out[key] = getattr(opt, key)
    return out


def _conv(kernel: Callable[..., np.ndarray]) -> Callable[[RefOp, list], np.ndarray]:
    def run(op: RefOp, args: list) -> np.ndarray:
        o = op.options
        y = kernel(args[0], op.weights, op.bias, stride=o["stride"], rate=o["rate"], padding=o["padding"])
        return ACTIVATIONS[o["activation"]](y)

    return run


def _pool(op: RefOp, args: list) -> np.ndarray:
    o = op.options
    return ACTIVATIONS[o["activation"]](average_pool2d(args[0], o["kernel"], stride=o["stride"], padding=o["padding"]))


def _resize(op: RefOp, args: list) -> np.ndarray:
    size = tuple(int(v) for v in args[1])
    return resize_bilinear(
        args[0], (size[0], size[1]), align_corners=bool(op.options.get("alignCorners")),
        half_pixel_centers=bool(op.options.get("halfPixelCenters")),
    )  # fmt: skip


def _add(op: RefOp, args: list) -> np.ndarray:
    return ACTIVATIONS[op.options.get("activation", 0)](add(args[0], args[1]))


def _concat(op: RefOp, args: list) -> np.ndarray:
    return ACTIVATIONS[op.options.get("activation", 0)](concatenation(args, int(op.options.get("axis", -1))))


#: The operators implemented here, by TFLite name.
KERNELS: dict[str, Callable[[RefOp, list], np.ndarray]] = {
    "CONV_2D": _conv(conv2d),
    "DEPTHWISE_CONV_2D": _conv(depthwise_conv2d),
    "AVERAGE_POOL_2D": _pool,
    "RESIZE_BILINEAR": _resize,
    "ADD": _add,
    "CONCATENATION": _concat,
    "RELU": lambda op, args: ACTIVATIONS[1](args[0]),
    "RELU6": lambda op, args: ACTIVATIONS[3](args[0]),
}


def load(model: ModelInput | ModelSpec) -> ReferenceModel:
    """Read a float model's graph for the NumPy forward pass.

    Raises:
        ModelNotFoundError: An unknown zoo id or a missing file.
        ModelFormatError: Not a readable TFLite model.
        ReferenceForwardError: A quantized model, or an op this module does not implement (named).
    """
    source = read_model_file(model)
    name, content = source.name, source.content
    fb = schema.read_model(content, name)
    g = fb.subgraphs[0]
    float32 = schema.schema_module().TensorType.FLOAT32
    input_index, output_index = int(g.inputs[0]), int(g.outputs[0])
    quantized = [t for t in g.tensors if t.quantization is not None and t.quantization.scale is not None]
    if g.tensors[input_index].type != float32 or any(len(t.quantization.scale) for t in quantized):
        raise ReferenceForwardError(
            f"{name} is quantized (integer tensors with scales); the NumPy reference runs float models only, "
            "such as deeplabv3-starter and its derivations"
        )
    constants: dict[int, np.ndarray] = {}
    for i, t in enumerate(g.tensors):
        if schema.is_constant(fb, t):
            data = np.asarray(fb.buffers[t.buffer].data, np.uint8).tobytes()
            dtype = np.float32 if t.type == float32 else np.int32
            constants[i] = np.frombuffer(data, dtype).reshape(schema.tensor_shape(t))
    ops = []
    for k, op in enumerate(g.operators):
        kind = schema.op_name(fb, op)
        outputs = tuple(int(t) for t in op.outputs)
        tensor = schema.tensor_name(g.tensors[outputs[0]]) if outputs else ""
        label = f"op {k} {kind} ({tensor})"
        if kind not in KERNELS:
            raise ReferenceForwardError(
                f"{name}: {label} is not implemented in the NumPy reference (it implements {', '.join(KERNELS)})"
            )
        inputs = tuple(int(t) for t in op.inputs)
        if any(t in constants and g.tensors[t].type not in (float32,) and kind != "RESIZE_BILINEAR" for t in inputs):
            raise ReferenceForwardError(f"{name}: {label} has quantized or integer weights; only float models run")
        options = _options(kind, op.builtinOptions)
        if options.get("depthMultiplier", 1) not in (0, 1):
            raise ReferenceForwardError(f"{name}: {label} has depth multiplier {options['depthMultiplier']}, not 1")
        frozen = MappingProxyType({t: constants[t] for t in inputs if t in constants})
        ops.append(RefOp(k, kind, tensor, inputs, outputs, MappingProxyType(options), frozen))
    return ReferenceModel(
        name=name,
        ops=tuple(ops),
        constants=MappingProxyType(constants),
        input_index=input_index,
        output_index=output_index,
        input_shape=schema.tensor_shape(g.tensors[input_index]),
    )


def forward(model: ModelInput | ModelSpec | ReferenceModel, x: np.ndarray) -> np.ndarray:
    """The model's output tensor for input tensor `x`, computed op by op in NumPy.

    Args:
        model: A zoo id, a .tflite path, the bytes of a float model, a `ModelSpec` or a loaded `ReferenceModel`.
        x: The input tensor exactly as fed to the interpreter; for the starter a (1, 257, 257, 3) float32 array
            of pixels scaled to [-1, 1].

    Returns:
        The output tensor, e.g. the starter's (1, 257, 257, 21) logits.

    Raises:
        ReferenceForwardError: A quantized model, an op not implemented here, or an input of the wrong shape.
        ModelNotFoundError: An unknown zoo id or a missing file.
    """
    ref = model if isinstance(model, ReferenceModel) else load(model)
    return ref.run(x)
