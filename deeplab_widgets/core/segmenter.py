"""The segmenter: image in, class map at the image's own resolution out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal, get_args

import numpy as np

from ..errors import OptionsError
from .checks import check_choice, check_flag, check_instance, check_int
from .crf import CrfOptions
from .crf import refine as crf_refine
from .images import DEFAULT_MAX_PIXELS, Decoded, ImageInput, load_image_at_least
from .model import LabelsInput, ModelInput, ModelSpec, OutputKind, forget_scores_graph, load_model
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
from .runtime import RUNNERS, Runner, RuntimeOptions
from .scores import CoarseScores
from .size import Size

#: Refinement of the class map after the model: DeepLab v1/v2's fully connected CRF.
Refine = Literal["crf"]
REFINE_MODES: tuple[Refine | None, ...] = (None, *get_args(Refine))
#: What `segment(scores=...)` returns beside the class map: nothing (False), the model-resolution probabilities
#: (True), or the coarse logits they are upsampled from ("coarse", `SegmentationResult.coarse`).
Scores = bool | Literal["coarse"]
SCORES_CHOICES: tuple[Scores, ...] = (False, True, "coarse")


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
    """The name of a class id (ids beyond the names get `class N`).

    Args:
        class_names: The model's class names.
        class_id: A class id (0-255).
    """
    return class_names[class_id] if class_id < len(class_names) else f"class {class_id}"


def present_classes(
    labels: np.ndarray, class_names: Sequence[str], *, counts: np.ndarray | None = None
) -> list[ClassShare]:
    """The classes present in a class map with their share of the pixels, largest share first.

    `SegmentationResult.present_classes` uses it; so should anything that lists the classes of a class map
    it did not segment itself (e.g. a mask read back from disk).
    `counts` may pass a precomputed `np.bincount(labels.ravel(), minlength=256)`.

    Args:
        labels: An H x W uint8 class map.
        class_names: The model's class names.
        counts: Pixels per class id, if already counted (`class_counts(labels)`).
    """
    counts = np.bincount(labels.ravel(), minlength=256) if counts is None else counts
    total = labels.size
    shares = [
        ClassShare(int(i), class_name(class_names, int(i)), float(counts[i] / total)) for i in np.flatnonzero(counts)
    ]
    return sorted(shares, key=lambda s: (-s.fraction, s.id))


@dataclass(frozen=True)
class SegmentationResult:
    """A class map at the original image size, the class names, optional scores and timings.

    `model` names the model and `model_sha256` identifies its file exactly: a zoo model's file is checked
    against the registry, a user's file (`Segmenter.from_file`) is only as good as its checksum says.
    """

    labels: np.ndarray  # H x W uint8 class ids
    class_names: tuple[str, ...]
    colormap: np.ndarray = field(repr=False)  # 256 x 3 uint8
    timings: Timings
    model: str
    options: RuntimeOptions
    resize: ResizeMode
    scores: np.ndarray | None = field(default=None, repr=False)  # h x w x C probabilities, model resolution
    output_kind: OutputKind | None = None  # the model's output; None when unknown (e.g. a mask read from disk)
    model_sha256: str = ""  # the model file's SHA-256 (its exact provenance); "" when unknown
    coarse: CoarseScores | None = field(default=None, repr=False)  # the logits before the last upsampling

    @cached_property
    def counts(self) -> np.ndarray:
        """Pixels per class id (length 256)."""
        return class_counts(self.labels)

    def present_classes(self) -> list[ClassShare]:
        """Classes present, largest share first."""
        return present_classes(self.labels, self.class_names, counts=self.counts)

    def name_of(self, class_id: int) -> str:
        """The name of a class id (ids beyond the names get `class N`).

        Args:
            class_id: A class id (0-255).
        """
        return class_name(self.class_names, class_id)

    @property
    def has_scores(self) -> bool:
        """True when per-class probabilities are available (segmented with `scores=True` or `"coarse"`)."""
        return self.scores is not None or self.coarse is not None

    def probabilities(self) -> np.ndarray | None:
        """h x w x C class probabilities at the model's resolution: `scores`, else computed once from `coarse`
        (`CoarseScores.probabilities`); None without either."""
        if self.scores is not None:
            return self.scores
        return self.coarse.probabilities() if self.coarse is not None else None


def default_resize(spec: ModelSpec) -> ResizeMode:
    """The zoo's measured best resize mode for a model; "stretch" for other models.

    Args:
        spec: The loaded model.
    """
    return spec.zoo.resize if spec.zoo else "stretch"


class Segmenter:
    """Segments images with one DeepLab TFLite model.

    Its interpreters are built on first use and kept in a process-wide cache shared by every Segmenter of the
    same model and options; `close()` (or a `with` block) frees those no other Segmenter uses.

    >>> with Segmenter("deeplabv3-starter") as seg:
    ...     seg.segment("cat.jpg").present_classes()[0].name

    Args:
        model: A zoo id (`list_models()`), the path of a `.tflite` file, its bytes, or a loaded `ModelSpec`.
        options: Threads, XNNPACK, delegate and backend (default: `RuntimeOptions()`, every core).
        labels: Class names for a user's model: a sequence, or a text file with one name per line (default:
            the model's metadata, else the zoo's dataset, else `class 0..N-1`).
        resize: `"stretch"` or `"pad"` (default: the zoo's measured best mode for the model, else stretch).
        max_pixels: Refuse larger images with `ImageTooLargeError` (a decompression-bomb guard).

    Raises:
        ModelNotFoundError: An unknown zoo id or a missing file; and the other errors of `load_model`
            (ModelFormatError, LabelCountError, ChecksumError, DownloadError, BackendError, DelegateError).
        OptionsError: An unknown `resize` mode.
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
        self.options = check_options(options)
        max_pixels = check_int("max_pixels", max_pixels, minimum=1)
        if resize is not None:
            check_resize(resize)
        self.spec = model if isinstance(model, ModelSpec) else load_model(model, labels, self.options)
        self.resize = check_resize(resize or default_resize(self.spec))
        self.max_pixels = max_pixels
        self.invocations = 0

    @classmethod
    def from_file(cls, path_or_bytes: ModelInput, labels: LabelsInput = None, **kwargs: Any) -> Segmenter:
        """Any DeepLab-style TFLite segmentation model, from a path or its bytes (keywords as `Segmenter`).

        Args:
            path_or_bytes: The `.tflite` file's path or its bytes.
            labels: Class names: a sequence, or a text file with one per line.
            **kwargs: `options`, `resize`, `max_pixels`, as `Segmenter` takes them.
        """
        return cls(path_or_bytes, labels=labels, **kwargs)

    def with_options(
        self, options: RuntimeOptions | None = None, resize: ResizeMode | None = None, max_pixels: int | None = None
    ) -> Segmenter:
        """The same loaded model with other runtime options, resize mode or pixel limit (no reloading).

        Args:
            options: The new runtime options (default: this segmenter's).
            resize: The new resize mode (default: this segmenter's).
            max_pixels: The new pixel limit (default: this segmenter's).

        Raises:
            OptionsError: An unknown `resize` mode.
        """
        return Segmenter(
            self.spec,
            self.options if options is None else options,
            resize=resize or self.resize,
            max_pixels=self.max_pixels if max_pixels is None else max_pixels,
        )

    @property
    def runner(self) -> Runner:
        """The cached interpreter for this model and these options."""
        return self.spec.runner(self.options, holder=self)

    def close(self) -> None:
        """Free this model's cached interpreters (and its scores graph) that no other live Segmenter uses.

        Segmenters made by `with_options` share the loaded model: one that still has its interpreter keeps it.
        A closed Segmenter still works; its next `segment()` builds its interpreter again.
        """
        if not RUNNERS.release(self, self.spec.digest):
            forget_scores_graph(self.spec.digest)

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names."""
        return self.spec.class_names

    def segment(
        self, image: ImageInput, *, scores: Scores = False, refine: Refine | None = None, crf: CrfOptions | None = None
    ) -> SegmentationResult:
        """Segment one image; `scores=True` also returns per-class probabilities at the model's resolution.

        Every zoo model has scores: logits models output them, and for models ending in an ArgMax the
        ArgMax's input is exposed as an extra output (a second interpreter, built on the first
        `scores=True` call; without scores the original graph runs).

        A JPEG given as a path or bytes is decoded at the smallest DCT scale that still covers the model
        input (the class map still comes back at the photo's full size); pass a decoded image to use
        every pixel of the photo.

        `refine="crf"` refines the class map with DeepLab v1/v2's fully connected CRF over the probabilities and
        the photo (`core.crf`, parameters in `crf`, the papers' defaults otherwise); it needs class scores (every
        zoo model has them), runs in NumPy and costs about a second per photo; its time counts as postprocessing.
        `scores` are still the model's own probabilities.

        `scores="coarse"` returns the logits the graph computes before its last bilinear upsampling
        (`SegmentationResult.coarse`, e.g. 33x33 for the starter), for a display that upsamples them itself: a copy
        of a small tensor instead of the model-resolution softmax, so the call costs about what it costs without
        scores. A model whose scores are not made by a bilinear resize returns `scores` instead.

        Args:
            image: A path, bytes, a PIL image or an H x W (x 3|4) array (`load_image` reads it).
            scores: Also return the per-class probabilities (True: `SegmentationResult.scores`; "coarse":
                `SegmentationResult.coarse`).
            refine: `"crf"` to refine the class map with the fully connected CRF, or None.
            crf: The CRF's parameters (default: the papers').

        Raises:
            ImageNotFoundError, ImageDecodeError, ImageTooLargeError, ImageTooSmallError: An unusable image.
            OptionsError: An unknown `refine`.
            NoScoresError: `scores=True` or `refine="crf"` for a user's model whose logits could not be found.
        """
        check_choice("refine", refine, REFINE_MODES)
        scores = check_scores(scores)
        if crf is not None:
            check_instance("crf", crf, CrfOptions, "a CrfOptions")
        decoded = load_image_at_least(image, self.decode_size, max_pixels=self.max_pixels)
        t0 = time.perf_counter()
        pixels, placement = self._fit(decoded)
        result = self.segment_fitted(pixels, placement, scores=True if refine else scores, started=t0)
        if refine == "crf":
            assert result.scores is not None  # segment_fitted(scores=True) raised NoScoresError otherwise
            t1 = time.perf_counter()
            labels = crf_refine(decoded.image, result.scores, crf or CrfOptions(), size=decoded.size)
            labels.setflags(write=False)
            spent = (time.perf_counter() - t1) * 1e3
            timings = replace(result.timings, postprocess_ms=result.timings.postprocess_ms + spent)
            kept = result.scores if scores is True else None
            result = replace(result, labels=labels, timings=timings, scores=kept)
        return result

    def prepare(self, image: ImageInput) -> tuple[np.ndarray, Placement]:
        """Decode and fit `image` exactly as `segment()` does: the uint8 pixels it feeds, and where they sit.

        `spec.input_batch(pixels)` is then the model's input tensor (e.g. for calibrating a quantizer).
        """
        return self._fit(load_image_at_least(image, self.decode_size, max_pixels=self.max_pixels))

    def _fit(self, decoded: Decoded) -> tuple[np.ndarray, Placement]:
        return fit(decoded.image, self.spec.input_size, self.resize, full_size=decoded.size, box=decoded.box)

    def segment_fitted(
        self, pixels: np.ndarray, placement: Placement, *, scores: Scores = False, started: float | None = None
    ) -> SegmentationResult:
        """Segment uint8 RGB `pixels` already fitted to the model input (e.g. scaled by a video decoder).

        The class map comes back at `placement.image_size`.

        Args:
            pixels: H x W x 3 uint8 RGB of size `placement.content`, at most the model's input size.
            placement: Where `pixels` sit in the input and the size of the photo they stand for.
            scores: Also return the per-class probabilities (True) or the coarse logits ("coarse"), as `segment`.
            started: A `time.perf_counter()` value: the work since then counts as preprocessing.

        Raises:
            NoScoresError: `scores=True` for a user's model whose logits could not be found.
        """
        spec = self.spec
        scores = check_scores(scores)
        if scores == "coarse" and spec.coarse_index is None:
            scores = True  # no coarse logits to return: the model-resolution probabilities instead
        if scores == "coarse":
            runner = spec.coarse_runner(self.options, holder=self)
        else:
            runner = spec.scores_runner(self.options, holder=self) if scores else self.runner
        t0 = time.perf_counter() if started is None else started
        with runner.lock:
            interpreter = runner.interpreter
            spec.feed(interpreter, pixels)
            t1 = time.perf_counter()
            runner.invoke()
            self.invocations += 1
            t2 = time.perf_counter()
            outputs = self._copy_outputs(interpreter, scores is True)
            coarse = interpreter.get_tensor(spec.coarse_index)[0] if scores == "coarse" else None
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
            model_sha256=spec.digest,
            coarse=self._coarse(coarse, placement) if coarse is not None else None,
        )

    def _coarse(self, logits: np.ndarray, placement: Placement) -> CoarseScores:
        """The coarse logits of one run, with what upsamples them to this photo's model-resolution scores."""
        spec = self.spec
        assert spec.upsampling is not None  # set whenever `coarse_index` is
        logits.setflags(write=False)
        return CoarseScores(
            logits=logits,
            quantization=spec.coarse_quantization,
            upsampling=spec.upsampling,
            output_size=spec.input_size,
            content=placement.content,
        )

    def decode_size(self, full_size: Size) -> Size:
        """The smallest decoded size that still covers the model input for a photo of `full_size`.

        Args:
            full_size: The photo's full upright size.
        """
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


#: What the entry points accept as a model: a zoo id, a `.tflite` path or bytes, a loaded `ModelSpec`, or a
#: `Segmenter` (see `as_segmenter`).
SegmenterInput = Segmenter | ModelSpec | ModelInput


def check_scores(scores: object) -> Scores:
    """`scores` as `segment` takes it: True, False or "coarse".

    Raises:
        OptionsError: Anything else.
    """
    if isinstance(scores, str) and scores == "coarse":
        return "coarse"
    if isinstance(scores, bool) or type(scores).__name__ == "bool_":
        return check_flag("scores", scores)
    raise OptionsError(f"scores must be True or False (or 'coarse'), not {scores!r}")


def check_options(options: RuntimeOptions | None) -> RuntimeOptions:
    """`options`, or the default `RuntimeOptions()` for None.

    Raises:
        OptionsError: Anything but a `RuntimeOptions` or None.
    """
    return (
        RuntimeOptions() if options is None else check_instance("options", options, RuntimeOptions, "a RuntimeOptions")
    )


def as_segmenter(
    model: SegmenterInput,
    options: RuntimeOptions | None = None,
    *,
    resize: ResizeMode | None = None,
    labels: LabelsInput = None,
    max_pixels: int | None = None,
) -> Segmenter:
    """The one way every entry point turns its `model` argument into a `Segmenter`.

    A zoo id, a `.tflite` path, model bytes or a `ModelSpec` is loaded with `options`, `resize`, `labels` and
    `max_pixels`. A `Segmenter` is used as it is; given `options`, `resize` or `max_pixels` as well, it is
    re-targeted with `Segmenter.with_options` (the same loaded model, no reloading): what is given
    overrides, what is not keeps the segmenter's own setting.

    Args:
        model: A zoo id (`list_models()`), the path of a `.tflite` file, its bytes, a `ModelSpec` or a `Segmenter`.
        options: Threads, XNNPACK, delegate and backend (default: the segmenter's, or `RuntimeOptions()`).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        labels: Class names for a user's model that is loaded here (see `Segmenter`).
        max_pixels: Refuse larger images (default: the segmenter's, or `DEFAULT_MAX_PIXELS`).

    Returns:
        The Segmenter.

    Raises:
        OptionsError: `labels` with a `Segmenter` or a `ModelSpec` (their labels were read when the model was
            loaded: load it again with them), or an unknown `resize`.
        ModelNotFoundError: An unknown zoo id or a missing file, when a model is loaded; and the other errors
            of `load_model` (ModelFormatError, LabelCountError, ChecksumError, DownloadError, BackendError,
            DelegateError).
    """
    if labels is not None and isinstance(model, (Segmenter, ModelSpec)):
        raise OptionsError(
            "labels apply when a model is loaded, and this model is loaded already: "
            "load it with its labels, e.g. Segmenter('model.tflite', labels='labels.txt')"
        )
    if isinstance(model, Segmenter):
        if options is None and resize is None and max_pixels is None:
            return model
        return model.with_options(options, resize, max_pixels)
    return Segmenter(
        model,
        options,
        labels=labels,
        resize=resize,
        max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
    )
