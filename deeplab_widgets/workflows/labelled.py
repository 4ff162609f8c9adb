"""The project's labelled pairs, fetched through the registry: the one way notebooks, benchmarks and reports
load the data they score on.

15 PASCAL VOC 2012 val photos with their ground truth and 3 ADE20K validation photos, each file recorded in the
registry with its URL at a pinned commit and its SHA-256, found in a mirror folder (`$DEEPLAB_WIDGETS_MIRROR`),
in the cache, or downloaded and verified on first use. A handful of images: a sanity check, not a benchmark.
For labelled folders of your own, use `voc_folder` / `ade20k_folder`.
"""

from __future__ import annotations

from functools import partial

from ..assets import registry
from ..core.checks import check_choice
from ..core.labels import label_set
from ..errors import DownloadError
from .datasets import ADE20K_32_MAPPING, ADE20K_TO_32, LabelledDataset, LabelledImage, write_class_id_mask

#: The label sets that have labelled pairs, and the registry data set that holds them.
LABELLED = {"pascal_voc": "voc", "ade20k": "ade20k", "ade20k-32": "ade20k"}
#: The conversions the registry's `convert` fields name.
CONVERSIONS: dict[str, registry.Converter] = {"voc-colours": partial(write_class_id_mask, labels="pascal_voc")}


def labelled_pairs(labels: str = "pascal_voc") -> LabelledDataset:
    """The project's labelled pairs for a label set, fetched and verified through the registry.

    Args:
        labels: `"pascal_voc"` (15 VOC 2012 val pairs, 255 = void), `"ade20k"` (3 ADE20K pairs, 150 classes,
            0 = other, not scored) or `"ade20k-32"` (the same pairs scored against the 32 classes of the zoo's v3+
            ADE20K models: ids above 31 become 0, "other", scored as a class).

    Returns:
        The pairs, sorted by file name (the photo and mask of each found in a mirror folder, in the cache, or
        downloaded).

    Raises:
        OptionsError: `labels` is not one of those three.
        DownloadError: A file is in no mirror folder, not cached, and cannot be downloaded (the message names the
            variable for an offline mirror).
        ChecksumError: A copy of a file does not have its registry SHA-256.
    """
    check_choice("labels", labels, tuple(LABELLED))
    items = sorted(
        (
            LabelledImage(
                pair.name,
                registry.fetch(pair.image, progress=False),
                registry.fetch(pair.mask, progress=False, convert=CONVERSIONS.get(pair.mask.convert)),
            )
            for pair in registry.pairs(LABELLED[labels])
        ),
        key=lambda item: item.image_path.name,
    )
    name = LABELLED[labels]
    if labels == "pascal_voc":
        return LabelledDataset(name, tuple(items), label_set(labels), ignore_index=255)
    if labels == "ade20k":
        return LabelledDataset(name, tuple(items), label_set(labels), ignore_index=0)
    return LabelledDataset(
        name, tuple(items), label_set(labels), ignore_index=None, truth_map=ADE20K_TO_32, mapping=ADE20K_32_MAPPING
    )


def labelled_for(label_set_name: str) -> LabelledDataset | None:
    """The labelled pairs of a model's label set, or None when the label set has none (Cityscapes) or they cannot
    be fetched (offline, no mirror).

    Raises:
        ChecksumError: A copy of a file does not have its registry SHA-256.
    """
    if label_set_name not in LABELLED:
        return None
    try:
        return labelled_pairs(label_set_name)
    except DownloadError:
        return None
