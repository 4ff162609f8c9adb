"""The labelled evaluation data the reports score on, found through `registry.eval_dir()`.

`voc/images` + `voc/masks` (PASCAL VOC pairs) and `ade20k/images` + `ade20k/annotations` (ADE20K pairs, scored
against the 32 classes of the v3+ ADE20K models). A handful of images: a sanity check, not a benchmark.
"""

from __future__ import annotations

from pathlib import Path

from ..assets import registry
from ..errors import DatasetError
from .datasets import LabelledDataset, ade20k_32_folder, voc_folder


def _folder(name: str, images: str, masks: str) -> tuple[Path, Path]:
    """The (images, masks) folders of one labelled set under the evaluation data; `DatasetError` if absent."""
    root = registry.eval_dir()
    if root is None or not (root / name / images).is_dir():
        raise DatasetError(
            f"no labelled {name} images found; set {registry.EVAL_ENV} to a folder holding {name}/{images} and "
            f"{name}/{masks}"
        )
    return root / name / images, root / name / masks


def labelled_voc() -> LabelledDataset:
    """The labelled PASCAL VOC pairs (`voc/images`, `voc/masks` of the evaluation data).

    Raises:
        DatasetError: No evaluation data is configured; the message names the variable to set.
    """
    return voc_folder(*_folder("voc", "images", "masks"), name="voc")


def labelled_ade20k_32() -> LabelledDataset:
    """The labelled ADE20K pairs (`ade20k/images`, `ade20k/annotations`), ids above 31 mapped to 0 ("other").

    Raises:
        DatasetError: No evaluation data is configured; the message names the variable to set.
    """
    return ade20k_32_folder(*_folder("ade20k", "images", "annotations"), name="ade20k")


def labelled_for(label_set: str) -> LabelledDataset | None:
    """The labelled data for a model's label set ("pascal_voc", "ade20k-32"), None when there is none here."""
    finder = {"pascal_voc": labelled_voc, "ade20k-32": labelled_ade20k_32}.get(label_set)
    if finder is None:
        return None
    try:
        return finder()
    except DatasetError:
        return None
