"""The segmenter: image in, class map at the image's own resolution out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .images import DEFAULT_MAX_PIXELS, ImageInput, load_image
from .model import LabelsInput, ModelInput, ModelSpec, load_model
from .preprocess import Placement, argmax_labels, check_resize, fit, restore, softmax
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


@dataclass(frozen=True)
class SegmentationResult:
    """A class map at the original image size, the class names, optional scores and timings."""

    labels: np.ndarray  # H x W uint8 class ids
    class_names: tuple[str, ...]
    colormap: np.ndarray = field(repr=False)  # 256 x 3 uint8
    timings: Timings
    model: str
    options: RuntimeOptions
    resize: str
    scores: np.ndarray | None = field(default=None, repr=False)  # h x w x C probabilities, model resolution

    @cached_property
    def counts(self) -> np.ndarray:
        """Pixels per class id (length 256)."""
        return np.bincount(self.labels.ravel(), minlength=256)

    def present_classes(self) -> list[ClassShare]:
        """Classes present, largest share first."""
        total = self.labels.size
        ids = np.flatnonzero(self.counts)
        shares = [ClassShare(int(i), self.name_of(int(i)), float(self.counts[i] / total)) for i in ids]
        return sorted(shares, key=lambda s: (-s.fraction, s.id))

    def name_of(self, class_id: int) -> str:
        """The name of a class id (ids beyond the names get `class N`)."""
        return self.class_names[class_id] if class_id < len(self.class_names) else f"class {class_id}"

    @property
    def has_scores(self) -> bool:
        """True when per-class probabilities are available (segmented with `scores=True`)."""
        return self.scores is not None


def default_resize(spec: ModelSpec) -> str:
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
        resize: str | None = None,
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

    def with_options(self, options: RuntimeOptions | None = None, resize: str | None = None) -> Segmenter:
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
        """
        image = load_image(image, max_pixels=self.max_pixels)
        spec = self.spec
        runner = self.spec.scores_runner(self.options) if scores else self.runner
        t0 = time.perf_counter()
        pixels, placement = fit(image, spec.input_size, self.resize)
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
        )

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
        labels = argmax_labels(logits) if ids is None else ids.reshape(ids.shape[:2])[:ch, :cw].astype(np.uint8)
        if logits is None:
            return labels, None
        scale, zero = self.spec.scores_quantization
        probs = softmax((logits.astype(np.float32) - zero) * scale if scale else logits)
        probs.setflags(write=False)
        return labels, probs
