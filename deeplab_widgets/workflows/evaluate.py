"""Scoring a segmenter on labelled images: per-image and overall metrics, with optional flip TTA.

Flip test-time augmentation averages the class probabilities of the image and of its mirror
(flipped back), so it needs a model that outputs logits; the Coral PASCAL and Cityscapes models
end in an ArgMax and only give class ids, so TTA is refused for them. Multi-scale TTA is not
offered: every zoo model has a fixed input size (LiteRT's `resize_tensor_input` to another size
fails to prepare the graph, with and without XNNPACK).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from PIL import Image

from ..assets.datasets import CITYSCAPES_TO_VOC, LabelledDataset
from ..core.preprocess import Placement, ResizeMode, argmax_labels, restore
from ..core.segmenter import Segmenter
from ..errors import DatasetError, NoScoresError, OptionsError
from .metrics import ConfusionMatrix, Metrics

#: Test-time augmentation: a horizontal flip averaged with the original (logits models only).
Tta = Literal["flip"]
TTA_MODES: tuple[Tta | None, ...] = (None, *get_args(Tta))
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
        extras = [x for x in (self.tta and f"{self.tta} TTA", self.upsample != "nearest" and self.upsample) if x]
        return f"{self.model} ({', '.join(extras)})" if extras else self.model

    def worst(self, n: int = 5) -> list[ImageScore]:
        """The `n` images with the lowest mIoU, worst first (images with no labelled pixel last)."""
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
            "options": self.options,
            "mapped_labels": self.mapped,
            "median_ms": self.median_ms,
            **self.overall.to_dict(),
            "per_image": [
                {"name": s.name, "miou": s.miou, "pixel_accuracy": s.metrics.pixel_accuracy, "ms": s.ms}
                for s in self.images
            ],
        }


def check_tta(segmenter: Segmenter, tta: Tta | None, upsample: Upsample = "nearest") -> None:
    """Refuse TTA or bilinear upsampling, with the reason, when the model has no scores to average.

    Raises:
        OptionsError: `tta` is not `"flip"` or `None`, or `upsample` is not a known mode.
        NoScoresError: TTA or bilinear upsampling is asked of a model that outputs class ids only.
    """
    if tta not in TTA_MODES:
        raise OptionsError(
            f"unknown TTA {tta!r}; choose 'flip' or None (multi-scale is not possible: "
            "the zoo models have fixed input sizes)"
        )
    if upsample not in UPSAMPLE_MODES:
        raise OptionsError(f"unknown upsampling {upsample!r}; choose one of: {', '.join(UPSAMPLE_MODES)}")
    spec = segmenter.spec
    if (tta or upsample != "nearest") and spec.output_kind != "logits":
        what = f"{tta} TTA" if tta else f"{upsample} upsampling"
        raise NoScoresError(
            f"{what} needs per-class scores, but {spec.name} ends in an ArgMax and outputs class ids only"
        )


def upsample_argmax(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Argmax of the probabilities bilinearly resized to `size` (width, height), one channel at a time."""
    best = np.full((size[1], size[0]), -np.inf, np.float32)
    labels = np.zeros((size[1], size[0]), np.uint8)
    for c in range(probs.shape[-1]):
        channel = np.asarray(
            Image.fromarray(np.ascontiguousarray(probs[..., c])).resize(size, Image.Resampling.BILINEAR)
        )
        better = channel > best
        best[better] = channel[better]
        labels[better] = c
    return labels


def _scores(segmenter: Segmenter, image: Image.Image) -> np.ndarray:
    result = segmenter.segment(image, scores=True)
    if result.scores is None:  # `check_tta` refuses ArgMax models before this point
        raise NoScoresError(f"{segmenter.spec.name} outputs class ids only; use tta=None and upsample='nearest'")
    return result.scores


def predict(
    segmenter: Segmenter, image: Image.Image, *, tta: Tta | None = None, upsample: Upsample = "nearest"
) -> np.ndarray:
    """An H x W uint8 class map at the image's size, optionally flip-averaged or bilinearly upsampled.

    Args:
        segmenter: The model to run.
        image: The RGB photo.
        tta: `"flip"` averages the class probabilities of the photo and its mirror image; `None` runs once.
        upsample: `"nearest"` scales the class map; `"bilinear"` scales the probabilities before the argmax.

    Raises:
        OptionsError: An unknown `tta` or `upsample`.
        NoScoresError: `tta` or bilinear upsampling with a model that outputs class ids only.
    """
    check_tta(segmenter, tta, upsample)
    if tta is None and upsample == "nearest":
        return segmenter.segment(image).labels
    probs = _scores(segmenter, image)
    if tta == "flip":
        mirrored = _scores(segmenter, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        probs = (probs + mirrored[:, ::-1]) * np.float32(0.5)
    if upsample == "bilinear":
        return upsample_argmax(probs, image.size)
    return restore(argmax_labels(probs), Placement(image.size, probs.shape[:2]))


def label_map_for(segmenter: Segmenter, dataset: LabelledDataset) -> np.ndarray | None:
    """None when the model predicts the dataset's classes; Cityscapes -> VOC ids for the Cityscapes model on VOC.

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


def evaluate(
    segmenter: Segmenter,
    dataset: LabelledDataset,
    *,
    tta: Tta | None = None,
    upsample: Upsample = "nearest",
    label_map: np.ndarray | str | None = "auto",
    keep_predictions: bool = False,
    warmup: bool = True,
    progress: bool = True,
) -> Evaluation:
    """Segment every image of `dataset` and score it against its mask.

    All images feed one confusion matrix of exact pixel counts (the overall metrics); each image also gets its
    own metrics and its prediction time. One untimed warm-up run keeps interpreter set-up out of the latency.

    Args:
        segmenter: The model, with its runtime options and resize mode.
        dataset: The labelled images (`voc_folder`, `ade20k_folder`).
        tta: `"flip"` for flip test-time augmentation (models that output logits only), or `None`.
        upsample: `"nearest"` (scale the class map) or `"bilinear"` (scale the probabilities first).
        label_map: A 256-entry lookup table from the model's class ids to the dataset's; `"auto"` uses
            `label_map_for` (Cityscapes ids onto VOC's for the Cityscapes model on VOC), `None` uses the ids as
            they are.
        keep_predictions: Keep each image's class map in the result (for the worst-images figure).
        warmup: Run the first image once, untimed, before timing.
        progress: Show a progress bar.

    Returns:
        The `Evaluation`: overall metrics, per-image scores and timings, and the settings used.

    Raises:
        OptionsError: An unknown `tta` or `upsample`.
        NoScoresError: `tta` or bilinear upsampling with a model that outputs class ids only.
        DatasetError: The dataset is empty, a pair is unusable, or the model's classes cannot be mapped onto the
            dataset's.
    """
    from tqdm.auto import tqdm  # imported here: it pulls in ipywidgets inside Jupyter

    check_tta(segmenter, tta, upsample)
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.name}: no images to evaluate")
    lut = label_map_for(segmenter, dataset) if isinstance(label_map, str) else label_map
    matrix = ConfusionMatrix(dataset.num_classes, dataset.ignore_index, dataset.labels.names)
    scores = []
    for i, item in enumerate(tqdm(dataset.items, desc=segmenter.spec.name, disable=not progress, leave=False)):
        image, truth = dataset.load(item)
        if warmup and i == 0:
            predict(segmenter, image, tta=tta, upsample=upsample)
        t0 = time.perf_counter()
        labels = predict(segmenter, image, tta=tta, upsample=upsample)
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
    )
