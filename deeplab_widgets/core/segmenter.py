"""The segmenter: image in, class map at the image's own resolution out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .images import DEFAULT_MAX_PIXELS, Decoded, ImageInput, load_image_at_least
from .model import LabelsInput, ModelInput, ModelSpec, OutputKind, load_model
from .preprocess import (
    Placement,
    ResizeMode,
    argmax_labels,
    check_resize,
    class_counts,
    content_size,
    dequantized_softmax,
    fit,
    restore,
)
from .runtime import Runner, RuntimeOptions


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one `segment()` call."""

    preprocess_ms: float
    invoke_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        """The whole call."""
        return self.preprocess_ms + self.invoke_ms + self.postprocess_ms


@dataclass(frozen=True)
class ClassShare:
    """A class present in a result and the fraction of pixels it covers."""

    id: int
    name: str
    fraction: float


def class_name(class_names: Sequence[str], class_id: int) -> str:
    """The name of a class id (ids beyond the names get `class N`)."""
    return class_names[class_id] if class_id < len(class_names) else f"class {class_id}"


def present_classes(
    labels: np.ndarray, class_names: Sequence[str], *, counts: np.ndarray | None = None
) -> list[ClassShare]:
    """The classes present in a class map with their share of the pixels, largest share first.

    `SegmentationResult.present_classes` uses it; so should anything that lists the classes of a class map
    it did not segment itself (e.g. a mask read back from disk).
    `counts` may pass a precomputed `np.bincount(labels.ravel(), minlength=256)`.
    """
    counts = np.bincount(labels.ravel(), minlength=256) if counts is None else counts
    total = labels.size
    shares = [
        ClassShare(int(i), class_name(class_names, int(i)), float(counts[i] / total)) for i in np.flatnonzero(counts)
    ]
    return sorted(shares, key=lambda s: (-s.fraction, s.id))


@dataclass(frozen=True)
class SegmentationResult:
    """A class map at the original image size, the class names, optional scores and timings."""

    labels: np.ndarray  # H x W uint8 class ids
    class_names: tuple[str, ...]
    colormap: np.ndarray = field(repr=False)  # 256 x 3 uint8
    timings: Timings
    model: str
    options: RuntimeOptions
    resize: ResizeMode
    scores: np.ndarray | None = field(default=None, repr=False)  # h x w x C probabilities, model resolution
    output_kind: OutputKind | None = None  # the model's output; None when unknown (e.g. a mask read from disk)

    @cached_property
    def counts(self) -> np.ndarray:
        """Pixels per class id (length 256)."""
        return class_counts(self.labels)

    def present_classes(self) -> list[ClassShare]:
        """Classes present, largest share first."""
        return present_classes(self.labels, self.class_names, counts=self.counts)

    def name_of(self, class_id: int) -> str:
        """The name of a class id (ids beyond the names get `class N`)."""
        return class_name(self.class_names, class_id)

    @property
    def has_scores(self) -> bool:
        """True when per-class probabilities are available (segmented with `scores=True`)."""
        return self.scores is not None


def default_resize(spec: ModelSpec) -> ResizeMode:
    """The zoo's measured best resize mode for a model; "stretch" for other models."""
    return spec.zoo.resize if spec.zoo else "stretch"


class Segmenter:
    """Segments images with one DeepLab TFLite model.

    >>> seg = Segmenter("deeplabv3-starter")
    >>> seg.segment("cat.jpg").present_classes()[0].name
    """

    def __init__(
        self,
        model: ModelInput | ModelSpec = "deeplabv3-starter",
        options: RuntimeOptions | None = None,
        *,
        labels: LabelsInput = None,
        resize: ResizeMode | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.options = options or RuntimeOptions()
        self.spec = model if isinstance(model, ModelSpec) else load_model(model, labels, self.options)
        self.resize = check_resize(resize or default_resize(self.spec))
        self.max_pixels = max_pixels
        self.invocations = 0

    @classmethod
    def from_file(cls, path_or_bytes: ModelInput, labels: LabelsInput = None, **kwargs) -> Segmenter:
        """Any DeepLab-style TFLite segmentation model, from a path or its bytes."""
        return cls(path_or_bytes, labels=labels, **kwargs)

    def with_options(self, options: RuntimeOptions | None = None, resize: ResizeMode | None = None) -> Segmenter:
        """The same loaded model with other runtime options or resize mode (no reloading)."""
        return Segmenter(self.spec, options or self.options, resize=resize or self.resize, max_pixels=self.max_pixels)

    @property
    def runner(self) -> Runner:
        """The cached interpreter for this model and these options."""
        return self.spec.runner(self.options)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names."""
        return self.spec.class_names

    def segment(self, image: ImageInput, *, scores: bool = False) -> SegmentationResult:
        """Segment one image; `scores=True` also returns per-class probabilities at the model's resolution.

        Every zoo model has scores: logits models output them, and for models ending in an ArgMax the
        ArgMax's input is exposed as an extra output (a second interpreter, built on the first
        `scores=True` call; without scores the original graph runs). Raises `NoScoresError` with
        `scores=True` for a user's model whose logits could not be found.

        A JPEG given as a path or bytes is decoded at the smallest DCT scale that still covers the model
        input (the class map still comes back at the photo's full size); pass a decoded image to use
        every pixel of the photo.
        """
        decoded = load_image_at_least(image, self.decode_size, max_pixels=self.max_pixels)
        t0 = time.perf_counter()
        pixels, placement = self._fit(decoded)
        return self.segment_fitted(pixels, placement, scores=scores, started=t0)

    def prepare(self, image: ImageInput) -> tuple[np.ndarray, Placement]:
        """Decode and fit `image` exactly as `segment()` does: the uint8 pixels it feeds, and where they sit.

        `spec.input_batch(pixels)` is then the model's input tensor (e.g. for calibrating a quantizer).
        """
        return self._fit(load_image_at_least(image, self.decode_size, max_pixels=self.max_pixels))

    def _fit(self, decoded: Decoded) -> tuple[np.ndarray, Placement]:
        return fit(decoded.image, self.spec.input_size, self.resize, full_size=decoded.size, box=decoded.box)

    def segment_fitted(
        self, pixels: np.ndarray, placement: Placement, *, scores: bool = False, started: float | None = None
    ) -> SegmentationResult:
        """Segment uint8 RGB `pixels` already fitted to the model input (e.g. scaled by a video decoder).

        `placement.content` is the (height, width) of `pixels`; the class map comes back at
        `placement.image_size`. `started` (a `time.perf_counter()` value) counts earlier work as preprocessing.
        """
        spec = self.spec
        runner = spec.scores_runner(self.options) if scores else self.runner
        t0 = time.perf_counter() if started is None else started
        with runner.lock:
            interpreter = runner.interpreter
            spec.feed(interpreter, pixels)
            t1 = time.perf_counter()
            runner.invoke()
            self.invocations += 1
            t2 = time.perf_counter()
            outputs = self._copy_outputs(interpreter, scores)
        labels_small, probs = self._postprocess(outputs, placement)
        labels = restore(labels_small, placement)
        t3 = time.perf_counter()
        labels.setflags(write=False)
        return SegmentationResult(
            labels=labels,
            class_names=spec.class_names,
            colormap=spec.labels.colormap,
            timings=Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3),
            model=spec.name,
            options=self.options,
            resize=self.resize,
            scores=probs,
            output_kind=spec.output_kind,
        )

    def decode_size(self, full_size: tuple[int, int]) -> tuple[int, int]:
        """The smallest decoded (width, height) that still covers the model input for a photo of `full_size`."""
        return content_size(full_size, self.spec.input_size, self.resize)

    def _copy_outputs(self, interpreter: Any, scores: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Copies of (class ids, logits) out of the interpreter; the work on them happens after the lock."""
        spec = self.spec
        if spec.output_kind == "class_ids":
            logits = interpreter.get_tensor(spec.scores_index)[0] if scores and spec.scores_index is not None else None
            return interpreter.get_tensor(spec.output_index)[0], logits
        ids = interpreter.get_tensor(spec.labels_index)[0] if spec.labels_index is not None else None
        logits = interpreter.get_tensor(spec.output_index)[0] if scores or ids is None else None
        return ids, logits

    def _postprocess(
        self, outputs: tuple[np.ndarray | None, np.ndarray | None], placement: Placement
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Class ids (and probabilities, when logits were copied) cropped to the image content."""
        (ch, cw), (ids, logits) = placement.content, outputs
        if logits is not None:
            logits = logits[:ch, :cw]
        if ids is None:
            assert logits is not None  # `_copy_outputs` copies the logits whenever there are no class ids
            labels = argmax_labels(logits)
        else:
            labels = ids.reshape(ids.shape[:2])[:ch, :cw].astype(np.uint8)
        if logits is None:
            return labels, None
        probs = dequantized_softmax(logits, self.spec.scores_quantization)
        probs.setflags(write=False)
        return labels, probs
