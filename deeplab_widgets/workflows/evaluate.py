"""Scoring a segmenter on labelled images: per-image and overall metrics, with optional test-time augmentation.

Every zoo model gives class scores (`segment(scores=True)`), so every TTA works with every model:

* "flip" averages the class probabilities of the image and of its mirror (flipped back).
* "multiscale" averages the probabilities at scales 0.75, 1.0 and 1.25 of the model's input. The zoo
  models have fixed input sizes (LiteRT's `resize_tensor_input` to another size fails to prepare the
  graph), so a scale below 1 is padded into the input, and a scale above 1 is cut into overlapping
  input-sized tiles whose probabilities are averaged where they overlap. "multiscale+flip" adds the
  mirror at every scale.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from PIL import Image

from ..core.checks import check_choice, check_instance
from ..core.crf import CrfOptions
from ..core.preprocess import Placement, ResizeMode, argmax_labels, dequantized_softmax, fit, restore
from ..core.runtime import RuntimeOptions
from ..core.segmenter import REFINE_MODES, Refine, Segmenter, SegmenterInput, as_segmenter
from ..core.size import Size
from ..deprecation import renamed_keywords
from ..errors import DatasetError, NoScoresError, OptionsError
from .datasets import CITYSCAPES_TO_VOC, LabelledDataset
from .metrics import ConfusionMatrix, Metrics

#: Test-time augmentation: a horizontal flip, several scales, or both, averaged with the original.
Tta = Literal["flip", "multiscale", "multiscale+flip"]
TTA_MODES: tuple[Tta | None, ...] = (None, *get_args(Tta))
#: The scales of multi-scale TTA, relative to the model's input (DeepLab's eval uses 0.5 .. 1.75).
MULTISCALE_SCALES = (0.75, 1.0, 1.25)
#: How class scores reach the image size before the argmax: nearest (the Segmenter's way) or bilinear.
Upsample = Literal["nearest", "bilinear"]
UPSAMPLE_MODES: tuple[Upsample, ...] = get_args(Upsample)


@dataclass(frozen=True)
class ImageScore:
    """One image's metrics, the time its prediction took, and (optionally) the prediction."""

    name: str
    metrics: Metrics
    ms: float  # wall-clock time of the prediction (preprocess, invoke(s), postprocess, TTA averaging)
    prediction: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def miou(self) -> float:
        """Mean IoU over the classes in this image's ground truth."""
        return self.metrics.miou


@dataclass(frozen=True)
class Evaluation:
    """A model's scores on a dataset: overall metrics (one confusion matrix over all pixels) and per image."""

    model: str
    dataset: str
    resize: ResizeMode
    tta: Tta | None
    upsample: Upsample
    options: str
    overall: Metrics
    images: tuple[ImageScore, ...] = field(repr=False)
    mapped: bool = False  # True when the model's classes were mapped onto the dataset's (cross-dataset)
    truth_mapping: str = ""  # how the ground truth was mapped (e.g. ADE20K ids above 31 -> 0), empty if not
    refine: Refine | None = None  # "crf" when the class maps were refined by the fully connected CRF

    @property
    def miou(self) -> float:
        """Dataset mIoU over the classes present in the ground truth."""
        return self.overall.miou

    @property
    def pixel_accuracy(self) -> float:
        """Fraction of labelled pixels predicted correctly."""
        return self.overall.pixel_accuracy

    @property
    def median_ms(self) -> float:
        """Median prediction time per image."""
        return statistics.median(s.ms for s in self.images)

    @property
    def label(self) -> str:
        """A short name: model plus the non-default settings."""
        extras = [
            x for x in (self.tta and f"{self.tta} TTA", self.upsample != "nearest" and self.upsample, self.refine) if x
        ]
        return f"{self.model} ({', '.join(extras)})" if extras else self.model

    def worst(self, n: int = 5) -> list[ImageScore]:
        """The `n` images with the lowest mIoU, worst first (images with no labelled pixel last).

        Args:
            n: How many images.
        """
        return sorted(self.images, key=lambda s: (math.isnan(s.miou), s.miou, s.name))[:n]

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "images": len(self.images),
            "resize": self.resize,
            "tta": self.tta,
            "upsample": self.upsample,
            "refine": self.refine,
            "options": self.options,
            "mapped_labels": self.mapped,
            "ground_truth_mapping": self.truth_mapping,
            "median_ms": self.median_ms,
            **self.overall.to_dict(),
            "per_image": [
                {"name": s.name, "miou": s.miou, "pixel_accuracy": s.metrics.pixel_accuracy, "ms": s.ms}
                for s in self.images
            ],
        }


def check_tta(segmenter: Segmenter, tta: Tta | None, upsample: Upsample = "nearest") -> None:
    """Validate the TTA and upsampling names; refuse TTA for a user's model without class scores.

    Args:
        segmenter: The model the augmentation would run.
        tta: `None`, `"flip"`, `"multiscale"` or `"multiscale+flip"`.
        upsample: `"nearest"` or `"bilinear"`.

    Raises:
        OptionsError: `tta` is not one of `TTA_MODES`, or `upsample` is not a known mode.
        NoScoresError: TTA or bilinear upsampling is asked of a model whose logits could not be found.
    """
    if tta not in TTA_MODES:
        raise OptionsError(f"unknown TTA {tta!r}; choose one of: {', '.join(str(t) for t in TTA_MODES)}")
    if upsample not in UPSAMPLE_MODES:
        raise OptionsError(f"unknown upsampling {upsample!r}; choose one of: {', '.join(UPSAMPLE_MODES)}")
    spec = segmenter.spec
    if (tta or upsample != "nearest") and not spec.has_scores:
        what = f"{tta} TTA" if tta else f"{upsample} upsampling"
        raise NoScoresError(
            f"{what} needs per-class scores, but the logits of {spec.name} could not be found "
            "(it outputs class ids only)"
        )


def probabilities(segmenter: Segmenter, pixels: np.ndarray, *, flip: bool = False) -> np.ndarray:
    """Class probabilities (h x w x C) of uint8 `pixels` no larger than the model input, placed top-left.

    The rest of the input is padded with the mean pixel; the probabilities cover `pixels` only. With
    `flip`, the mirror is run too and the two are averaged.

    Args:
        segmenter: The model; its scores interpreter runs.
        pixels: h x w x 3 uint8 RGB, at most the model's input size.
        flip: Also run the mirror image and average the two.
    """
    spec = segmenter.spec
    runner = spec.scores_runner(segmenter.options, holder=segmenter)
    views = [pixels, np.ascontiguousarray(pixels[:, ::-1])] if flip else [pixels]
    total: np.ndarray | None = None
    for k, view in enumerate(views):
        with runner.lock:
            spec.feed(runner.interpreter, view)
            runner.invoke()
            logits = np.array(runner.interpreter.get_tensor(spec.scores_index)[0])
        fh, fw = logits.shape[0] / spec.input_size[0], logits.shape[1] / spec.input_size[1]
        logits = logits[: max(1, round(view.shape[0] * fh)), : max(1, round(view.shape[1] * fw))]
        probs = dequantized_softmax(logits, spec.scores_quantization)
        probs = probs[:, ::-1] if k == 1 else probs
        total = probs if total is None else total + probs
    assert total is not None
    return total / np.float32(len(views))


def resize_probabilities(probs: np.ndarray, size: Size) -> np.ndarray:
    """H x W x C probabilities bilinearly resized to `size`, channel by channel.

    Args:
        probs: H x W x C float32 class probabilities.
        size: The size to resize them to.
    """
    if probs.shape[:2] == size:
        return probs
    out = np.empty((*size, probs.shape[-1]), np.float32)
    for c in range(probs.shape[-1]):
        channel = Image.fromarray(np.ascontiguousarray(probs[..., c], np.float32))
        out[..., c] = np.asarray(channel.resize(size.pil, Image.Resampling.BILINEAR))
    return out


def _tile_starts(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering `length`, overlapping by at least a third."""
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / (tile * 2 / 3)) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def multiscale_probabilities(
    segmenter: Segmenter,
    image: Image.Image,
    *,
    scales: tuple[float, ...] = MULTISCALE_SCALES,
    flip: bool = False,
) -> np.ndarray:
    """Probabilities averaged over `scales`, at the content size the segmenter's resize mode gives at scale 1.

    A scale <= 1 is run padded into the fixed input; a scale > 1 as overlapping input-sized tiles whose
    probabilities are averaged where they overlap. Each scale's result is resized back bilinearly.

    Args:
        segmenter: The model (its resize mode sets the size at scale 1).
        image: The RGB photo.
        scales: Scales relative to the model's input (default `MULTISCALE_SCALES`).
        flip: Also average the mirror image at every scale.
    """
    h, w = segmenter.spec.input_size
    _, placement = fit(image, segmenter.spec.input_size, segmenter.resize)
    ch, cw = placement.content
    total = np.zeros((ch, cw, segmenter.spec.num_classes), np.float32)
    for s in scales:
        sh, sw = max(1, round(ch * s)), max(1, round(cw * s))
        pixels, _ = fit(image, Size(sh, sw), "stretch")
        if sh <= h and sw <= w:
            probs = probabilities(segmenter, pixels, flip=flip)
        else:
            probs = np.zeros((sh, sw, total.shape[-1]), np.float32)
            counts = np.zeros((sh, sw, 1), np.float32)
            for y in _tile_starts(sh, h):
                for x in _tile_starts(sw, w):
                    tile = np.ascontiguousarray(pixels[y : y + h, x : x + w])
                    part = resize_probabilities(probabilities(segmenter, tile, flip=flip), Size.of(tile))
                    probs[y : y + tile.shape[0], x : x + tile.shape[1]] += part
                    counts[y : y + tile.shape[0], x : x + tile.shape[1]] += 1
            probs /= counts
        total += resize_probabilities(probs, placement.content)
    return total / np.float32(len(scales))


def upsample_argmax(probs: np.ndarray, size: Size) -> np.ndarray:
    """The class map of `size`: argmax of the probabilities bilinearly resized to it, one channel at a time.

    Args:
        probs: H x W x C class probabilities at the model's resolution.
        size: The size of the class map (the photo's).
    """
    best = np.full(size, -np.inf, np.float32)
    labels = np.zeros(size, np.uint8)
    for c in range(probs.shape[-1]):
        channel = np.asarray(
            Image.fromarray(np.ascontiguousarray(probs[..., c])).resize(size.pil, Image.Resampling.BILINEAR)
        )
        better = channel > best
        best[better] = channel[better]
        labels[better] = c
    return labels


def _scores(segmenter: Segmenter, image: Image.Image) -> np.ndarray:
    result = segmenter.segment(image, scores=True)
    if result.scores is None:  # `segment(scores=True)` raises NoScoresError first for a model without logits
        raise NoScoresError(f"{segmenter.spec.name} gave no scores; use tta=None and upsample='nearest'")
    return result.scores


def predict(
    segmenter: Segmenter,
    image: Image.Image,
    *,
    tta: Tta | None = None,
    upsample: Upsample = "nearest",
    refine: Refine | None = None,
    crf: CrfOptions | None = None,
) -> np.ndarray:
    """An H x W uint8 class map at the image's size, optionally test-time augmented or bilinearly upsampled.

    Args:
        segmenter: The model to run.
        image: The RGB photo.
        tta: `"flip"` averages the class probabilities of the photo and its mirror image; `"multiscale"`
            those at scales 0.75, 1.0 and 1.25 (see `multiscale_probabilities`); `"multiscale+flip"` both;
            `None` runs once.
        upsample: `"nearest"` scales the class map; `"bilinear"` scales the probabilities before the argmax.
        refine: `"crf"` refines the class map with the fully connected CRF (`Segmenter.segment`); not combined
            with TTA or bilinear upsampling (the CRF itself works on bilinearly upsampled probabilities).
        crf: The CRF's parameters (default: the papers').

    Raises:
        OptionsError: An unknown `tta`, `upsample` or `refine`, or `refine` combined with either.
        NoScoresError: `tta`, bilinear upsampling or the CRF with a user's model whose logits could not be found.
    """
    check_tta(segmenter, tta, upsample)
    if refine is not None and (tta is not None or upsample != "nearest"):
        raise OptionsError("the CRF refines one prediction; use it without TTA and with nearest upsampling")
    if tta is None and upsample == "nearest":
        return segmenter.segment(image, refine=refine, crf=crf).labels
    probs: np.ndarray
    if tta is not None and tta.startswith("multiscale"):
        probs = multiscale_probabilities(segmenter, image, flip=tta.endswith("flip"))
    else:
        probs = _scores(segmenter, image)
    if tta == "flip":
        mirrored = _scores(segmenter, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        probs = (probs + mirrored[:, ::-1]) * np.float32(0.5)
    if upsample == "bilinear":
        return upsample_argmax(probs, Size.of(image))
    return restore(argmax_labels(probs), Placement(Size.of(image), Size.of(probs)))


def label_map_for(segmenter: Segmenter, dataset: LabelledDataset) -> np.ndarray | None:
    """None when the model predicts the dataset's classes; Cityscapes -> VOC ids for the Cityscapes model on VOC.

    Args:
        segmenter: The model whose class ids are to be scored.
        dataset: The labelled images (their label set names the classes of the masks).

    Raises:
        DatasetError: The model's classes are not the dataset's and no mapping is known; pass a `label_map`.
    """
    model_labels, data_labels = segmenter.spec.labels, dataset.labels
    same_set = model_labels.name == data_labels.name and model_labels.name != "custom"
    if model_labels.names == data_labels.names or (same_set and len(model_labels.names) == dataset.num_classes):
        return None
    if model_labels.name == "cityscapes" and data_labels.name == "pascal_voc":
        return CITYSCAPES_TO_VOC
    raise DatasetError(
        f"{segmenter.spec.name} predicts {segmenter.spec.num_classes} {model_labels.name} classes but "
        f"{dataset.name} is labelled with {dataset.num_classes} {data_labels.name} classes; pass a label_map"
    )


def _label_map(label_map: np.ndarray | str | None, segmenter: Segmenter, dataset: LabelledDataset) -> np.ndarray | None:
    """The lookup table `evaluate` applies: `label_map_for` for "auto", None, or a checked 256-entry table."""
    if isinstance(label_map, str):
        check_choice("label_map", label_map, ("auto",))
        return label_map_for(segmenter, dataset)
    if label_map is None:
        return None
    table = np.asarray(label_map)
    if table.shape != (256,) or not np.issubdtype(table.dtype, np.integer) or table.min() < 0 or table.max() > 255:
        raise OptionsError(
            "label_map must be 'auto', None or 256 class ids (0-255), one per model class id, "
            f"not an array of shape {table.shape} and type {table.dtype}"
        )
    return table.astype(np.uint8)


@renamed_keywords(segmenter="model")
def evaluate(
    model: SegmenterInput,
    dataset: LabelledDataset,
    *,
    options: RuntimeOptions | None = None,
    resize: ResizeMode | None = None,
    tta: Tta | None = None,
    upsample: Upsample = "nearest",
    refine: Refine | None = None,
    crf: CrfOptions | None = None,
    label_map: np.ndarray | str | None = "auto",
    keep_predictions: bool = False,
    warmup: bool = True,
    progress: bool = True,
) -> Evaluation:
    """Segment every image of `dataset` and score it against its mask.

    All images feed one confusion matrix of exact pixel counts (the overall metrics); each image also gets its
    own metrics and its prediction time. One untimed warm-up run keeps interpreter set-up out of the latency.

    Args:
        model: A zoo id, a `.tflite` path or bytes, or a `Segmenter` (see `as_segmenter`).
        dataset: The labelled images (`voc_folder`, `ade20k_folder`).
        options: Runtime options (a given `Segmenter` is re-targeted with them, without reloading).
        resize: `"stretch"` or `"pad"` (default: the segmenter's, or the model's measured best mode).
        tta: `"flip"`, `"multiscale"` or `"multiscale+flip"` test-time augmentation (see `predict`), or `None`.
        upsample: `"nearest"` (scale the class map) or `"bilinear"` (scale the probabilities first).
        refine: `"crf"` refines every class map with the fully connected CRF (see `predict`).
        crf: The CRF's parameters (default: the papers').
        label_map: A 256-entry lookup table from the model's class ids to the dataset's; `"auto"` uses
            `label_map_for` (Cityscapes ids onto VOC's for the Cityscapes model on VOC), `None` uses the ids as
            they are.
        keep_predictions: Keep each image's class map in the result (for the worst-images figure).
        warmup: Run the first image once, untimed, before timing.
        progress: Show a progress bar.

    Returns:
        The `Evaluation`: overall metrics, per-image scores and timings, and the settings used.

    Raises:
        OptionsError: An unknown `tta`, `upsample`, `refine` or `label_map`, or a `dataset` of another type.
        NoScoresError: `tta` or bilinear upsampling with a user's model whose logits could not be found.
        DatasetError: The dataset is empty, a pair is unusable, or the model's classes cannot be mapped onto the
            dataset's.
        ModelNotFoundError, ModelFormatError: As `as_segmenter`.
    """
    from tqdm.auto import tqdm  # imported here: it pulls in ipywidgets inside Jupyter

    check_instance("dataset", dataset, LabelledDataset, "a LabelledDataset (voc_folder(), ade20k_folder(), ...)")
    check_choice("refine", refine, REFINE_MODES)
    if crf is not None:
        check_instance("crf", crf, CrfOptions, "a CrfOptions")
    segmenter = as_segmenter(model, options, resize=resize)
    check_tta(segmenter, tta, upsample)
    if refine is not None and (tta is not None or upsample != "nearest"):
        raise OptionsError("the CRF refines one prediction; use it without TTA and with nearest upsampling")
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.name}: no images to evaluate")
    lut = _label_map(label_map, segmenter, dataset)
    matrix = ConfusionMatrix(dataset.num_classes, dataset.ignore_index, dataset.labels.names)
    scores = []
    for i, item in enumerate(tqdm(dataset.items, desc=segmenter.spec.name, disable=not progress, leave=False)):
        image, truth = dataset.load(item)
        if warmup and i == 0:
            predict(segmenter, image, tta=tta, upsample=upsample, refine=refine, crf=crf)
        t0 = time.perf_counter()
        labels = predict(segmenter, image, tta=tta, upsample=upsample, refine=refine, crf=crf)
        ms = (time.perf_counter() - t0) * 1e3
        if lut is not None:
            labels = lut[labels]
        own = matrix.update(truth, labels, name=str(item.image_path))
        kept = labels if keep_predictions else None
        scores.append(ImageScore(item.name, Metrics.from_confusion(own, dataset.labels.names), ms, kept))
    return Evaluation(
        model=segmenter.spec.name,
        dataset=dataset.name,
        resize=segmenter.resize,
        tta=tta,
        upsample=upsample,
        options=segmenter.options.describe(),
        overall=matrix.metrics(),
        images=tuple(scores),
        mapped=lut is not None,
        truth_mapping=dataset.mapping,
        refine=refine,
    )
