"""Intermediate activations of a real model: any layer's feature map, the image-pooling feature,
the logits before an in-model ArgMax, the coarse logits before bilinear upsampling, and, for DeepLab v3+,
the decoder's tensors (upsampled encoder features, low-level feature and its projection, decoder output).

The v3+ graphs have no classifier at the encoder's stride 16: their only logits are the decoder's, at
stride 4 (`coarse_logits()`, 128 x 128), so there are no encoder-level logits to read.

Opt-in and slower than `Segmenter.segment` (it keeps every tensor of the graph alive and copies
them out after each run); the default segmentation path never uses it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from ..core.images import ImageInput, load_image
from ..core.preprocess import ResizeMode, argmax_labels, check_resize, fit, softmax
from ..core.runtime import RUNNERS, Runner, RuntimeOptions
from ..core.segmenter import SegmenterInput, as_segmenter
from ..core.size import Size
from ..errors import LayerNotFoundError
from ..tflite.graph import Layer
from .deeplab import Decoder, ModelGraph, read_graph


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the graph: its index, name, shape, type and quantization."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float  # 0.0 when not quantized
    zero_point: int


@dataclass(frozen=True)
class Activations:
    """Every activation tensor of one model run (read-only copies), addressable by index or name."""

    model: str
    graph: ModelGraph = field(repr=False)
    infos: MappingProxyType = field(repr=False)  # tensor index -> TensorInfo
    arrays: MappingProxyType = field(repr=False)  # tensor index -> np.ndarray as stored (batch kept)
    content: Size  # of the image inside the model input

    def index(self, key: int | str) -> int:
        """The tensor index for an index or an exact tensor name (first alias of a fused name).

        Args:
            key: A tensor index, or an exact tensor name.
        """
        if isinstance(key, (int, np.integer)):
            if int(key) not in self.arrays:
                raise LayerNotFoundError(
                    f"tensor {key} is not an activation of {self.model}; use a layer's output tensor "
                    "(graph.layer(i).outputs) or a layer with layer_output()"
                )
            return int(key)
        hits = [i for i, info in self.infos.items() if info.name == key and i in self.arrays]
        if not hits:
            hits = [i for i, info in self.infos.items() if info.name.startswith(key + ";") and i in self.arrays]
        if len(hits) != 1:
            raise LayerNotFoundError(
                f"{len(hits)} activation tensors are named {key!r} in {self.model}; "
                "use an exact name from graph.tensor_names or a tensor index"
            )
        return hits[0]

    def info(self, key: int | str) -> TensorInfo:
        """Name, shape, dtype and quantization of a tensor.

        Args:
            key: A tensor index, or an exact tensor name.
        """
        return self.infos[self.index(key)]

    def raw(self, key: int | str) -> np.ndarray:
        """The tensor exactly as the interpreter held it (quantized integers for uint8 models).

        Args:
            key: A tensor index, or an exact tensor name.
        """
        return self.arrays[self.index(key)]

    def values(self, key: int | str) -> np.ndarray:
        """The tensor as real numbers (dequantized when quantized), batch dimension dropped.

        Args:
            key: A tensor index, or an exact tensor name.
        """
        info = self.info(key)
        a = self.raw(key)
        a = a[0] if a.ndim >= 1 and a.shape[0] == 1 and a.ndim > 1 else a
        if info.scale:
            return (a.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)
        return a.astype(np.float32, copy=False)

    def layer_output(self, layer: int | str | Layer) -> np.ndarray:
        """The (dequantized) output of one layer of the graph, e.g. a feature map H x W x C.

        Args:
            layer: A layer index, (a unique part of) its output tensor's name, or a `Layer`.
        """
        ly = layer if isinstance(layer, Layer) else self.graph.layer(layer)
        return self.values(ly.outputs[0])

    def output(self) -> np.ndarray:
        """The model's own output tensor (class ids or logits), batch dimension dropped."""
        return self.raw(self.graph.layers[-1].outputs[0])[0]

    def logits(self) -> np.ndarray:
        """Full-resolution class scores before any in-model ArgMax (H x W x C, dequantized)."""
        s = self.graph.summary
        if s.argmax_layer is not None:
            return self.values(self.graph.layers[s.argmax_layer].inputs[0])
        return self.values(self.graph.layers[-1].outputs[0])

    def coarse_logits(self) -> np.ndarray:
        """Class scores at the logits layer's native resolution, before bilinear upsampling.

        33 x 33 (stride 16) for the v3 models, 128 x 128 (stride 4, the decoder's) for the v3+ models.
        """
        s = self.graph.summary
        if s.logits_layer is None:
            raise LayerNotFoundError(
                f"{self.model} has no convolution producing logits; use logits() for its full-resolution scores"
            )
        return self.layer_output(s.logits_layer)

    def image_pooling(self) -> np.ndarray:
        """The image-level feature: the 1 x 1 x C output of the image-pooling branch's 1x1 conv."""
        pool = self.graph.summary.image_pooling
        if pool is None or pool.conv is None:
            raise LayerNotFoundError(
                f"{self.model} has no image-pooling branch; choose a model whose ASPP has one, e.g. deeplabv3-starter"
            )
        return self.layer_output(pool.conv)

    def _decoder(self) -> Decoder:
        decoder = self.graph.summary.decoder
        if decoder is None:
            raise LayerNotFoundError(
                f"{self.model} has no decoder (DeepLab v3+ models have one: deeplabv3plus-mnv2-ade20k)"
            )
        return decoder

    def decoder_upsampled(self) -> np.ndarray:
        """v3+: the encoder/ASPP features bilinearly upsampled to the decoder's resolution (128 x 128 x 256)."""
        up = self._decoder().upsample
        if up is None:
            raise LayerNotFoundError(f"{self.model}: the decoder's upsampling layer was not found")
        return self.layer_output(up)

    def decoder_low_level(self) -> np.ndarray:
        """v3+: the early, stride-4 backbone feature map the decoder taps (128 x 128 x 144)."""
        return self.layer_output(self._decoder().skip_layer)

    def decoder_projection(self) -> np.ndarray:
        """v3+: the low-level feature after the decoder's 1x1 projection (128 x 128 x 48)."""
        projection = self._decoder().projection
        if projection is None:
            raise LayerNotFoundError(f"{self.model}: the decoder's low-level projection was not found")
        return self.layer_output(projection)

    def decoder_output(self) -> np.ndarray:
        """v3+: the refined decoder features that the logits conv reads (128 x 128 x 256)."""
        decoder = self._decoder()
        return self.layer_output(decoder.refinement[-1] if decoder.refinement else decoder.merge)

    def encoder_features(self) -> np.ndarray:
        """The encoder's final feature map (the ASPP input), h x w x C."""
        return self.layer_output(self.graph.summary.encoder_layer)

    @cached_property
    def class_ids(self) -> np.ndarray:
        """Argmax of `logits()` (model resolution, uint8)."""
        return argmax_labels(self.logits())

    def confidence(self) -> np.ndarray:
        """Softmax probability of the winning class per pixel (model resolution): a confidence map."""
        return softmax(self.logits()).max(axis=-1)


class Probe:
    """Runs a model with every intermediate tensor preserved, for teaching and inspection.

    >>> acts = Probe("deeplabv3-mnv2-voc").run("bird.jpg")
    >>> acts.coarse_logits().shape
    (33, 33, 21)

    Args:
        model: A zoo id, a `.tflite` path or bytes, a `ModelSpec` or a `Segmenter` (see `as_segmenter`).
        options: Runtime options (default: the segmenter's, or `RuntimeOptions()`).
    """

    def __init__(self, model: SegmenterInput = "deeplabv3-starter", options: RuntimeOptions | None = None) -> None:
        segmenter = as_segmenter(model, options)
        self.options, self.spec = segmenter.options, segmenter.spec
        self.graph = read_graph(self.spec)
        self.invocations = 0

    @property
    def runner(self) -> Runner:
        """The cached interpreter that keeps all tensors (built on first use)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
            return RUNNERS.get(
                self.spec.digest, self.spec.content, self.options, preserve_all_tensors=True, holder=self
            )

    def run(self, image: ImageInput, *, resize: ResizeMode = "stretch") -> Activations:
        """Run the model once on `image` and copy out every activation tensor.

        Args:
            image: A path, bytes, a PIL image or an array.
            resize: `"stretch"` or `"pad"`.
        """
        spec = self.spec
        pixels, placement = fit(load_image(image), spec.input_size, check_resize(resize))
        runner = self.runner
        with runner.lock:
            interpreter = runner.interpreter
            spec.feed(interpreter, pixels)
            runner.invoke()
            self.invocations += 1
            infos, arrays = _copy_activations(interpreter, self.graph)
        return Activations(spec.name, self.graph, MappingProxyType(infos), MappingProxyType(arrays), placement.content)


def _copy_activations(interpreter: Any, graph: ModelGraph) -> tuple[dict[int, TensorInfo], dict[int, np.ndarray]]:
    wanted = {t for ly in graph.layers for t in (*ly.inputs, *ly.outputs)}
    infos, arrays = {}, {}
    for d in interpreter.get_tensor_details():
        i = int(d["index"])
        scale, zero = d["quantization"]
        infos[i] = TensorInfo(i, d["name"], tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]), scale, zero)
        if i in wanted:
            a = np.array(interpreter.get_tensor(i))
            a.setflags(write=False)
            arrays[i] = a
    return infos, arrays
