"""Labelled image folders for evaluation: PASCAL VOC-style pairs and the ADE20K SceneParsing layout.

A dataset is a list of (image, class-id mask) pairs matched by file stem. Listing a folder checks
that every image has a mask; reading a pair checks the mask's mode, size and label range, and
every error names the offending file. A mask saved as a colour map (RGB in the label set's colours, as some
projects publish their targets) becomes a class-id mask with `class_ids_from_colours` / `write_class_id_mask`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.checks import check_path
from ..core.images import IMAGE_EXTENSIONS, load_image
from ..core.labels import CITYSCAPES_NAMES, LABEL_SETS, VOC_NAMES, LabelSet, label_set
from ..errors import DatasetError

PathLike = str | os.PathLike


@dataclass(frozen=True)
class LabelledImage:
    """One image file and its ground-truth mask file (matched by stem)."""

    name: str
    image_path: Path
    mask_path: Path


@dataclass(frozen=True)
class LabelledDataset:
    """Image/mask pairs with the label set the masks use and the label that marks unlabelled pixels.

    Attributes:
        name: A name for tables and progress bars.
        items: The pairs, sorted by file name.
        labels: The label set of the masks' class ids.
        ignore_index: The mask value of unlabelled pixels (255 for VOC, 0 for ADE20K), or `None`.
    """

    name: str
    items: tuple[LabelledImage, ...]
    labels: LabelSet
    ignore_index: int | None = 255
    truth_map: np.ndarray | None = field(
        default=None, repr=False, compare=False
    )  # 256-entry lookup table applied to every mask as it is read
    mapping: str = ""  # what `truth_map` does, for reports (empty when masks are used as they are)

    @property
    def num_classes(self) -> int:
        """Number of valid class ids (0 .. num_classes - 1)."""
        return len(self.labels.names)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[LabelledImage]:
        return iter(self.items)

    def __getitem__(self, index: int) -> LabelledImage:
        return self.items[index]

    def item(self, name: str) -> LabelledImage:
        """The pair with this stem.

        Raises:
            DatasetError: No image has this stem.
        """
        for it in self.items:
            if it.name == name:
                return it
        raise DatasetError(f"{self.name}: no image named {name!r}")

    def load(self, item: LabelledImage | int | str) -> tuple[Image.Image, np.ndarray]:
        """The RGB image and its H x W uint8 mask, checked: same size, labels in range.

        Args:
            item: A pair, its index or its stem.

        Returns:
            The decoded image and its class-id mask.

        Raises:
            DatasetError: The mask is missing, unreadable, not a class-id image, of another size than the image,
                or holds labels outside the label set (other than `ignore_index`). The message names the file.
            ImageDecodeError: The image file is not a readable image.
        """
        if isinstance(item, int):
            item = self.items[item]
        elif isinstance(item, str):
            item = self.item(item)
        image = load_image(item.image_path)
        mask = read_mask(item.mask_path)
        if self.truth_map is not None:
            mask = self.truth_map[mask]
        if mask.shape != (image.height, image.width):
            raise DatasetError(
                f"{item.mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{item.image_path.name} is {image.width}x{image.height}"
            )
        values = np.unique(mask)
        bad = [int(v) for v in values if v >= self.num_classes and v != self.ignore_index]
        if bad:
            ignore = f" (or {self.ignore_index} = ignore)" if self.ignore_index is not None else ""
            raise DatasetError(
                f"{item.mask_path}: labels {bad[:5]} are outside 0..{self.num_classes - 1}{ignore} for {self.labels.name}"
            )
        return image, mask


def read_mask(path: PathLike) -> np.ndarray:
    """A class-id mask from a palette ('P') or greyscale ('L') image; colour masks are refused.

    Returns:
        An H x W uint8 array of class ids.

    Raises:
        DatasetError: The file is missing, not a readable image, or an RGB (colour) mask.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("P", "L"):
                raise DatasetError(
                    f"{path}: mask mode is {im.mode}; expected a palette (P) or greyscale (L) image of class ids"
                )
            return np.array(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"mask not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable mask image ({exc})") from None


def class_ids_from_colours(
    colours: np.ndarray, labels: LabelSet | str = "pascal_voc", *, ignore_index: int | None = 255
) -> np.ndarray:
    """The class ids of a mask saved as a colour map, the inverse of colouring ids with `labels.colormap`.

    Args:
        colours: An H x W x 3 uint8 RGB array, every pixel the colour of a class of `labels` (or of
            `ignore_index`: in the VOC palette 255, void, is 224,224,192).
        labels: The label set whose colours the map uses.
        ignore_index: The id of unlabelled pixels, whose colour is `labels.colormap[ignore_index]`; None for none.

    Returns:
        An H x W uint8 array of class ids.

    Raises:
        DatasetError: A pixel's colour is no class's colour (the message names the first such pixel), or two ids
            share a colour.
    """
    table = label_set(labels) if isinstance(labels, str) else labels
    ids = np.arange(len(table.names))
    if ignore_index is not None:
        ids = np.append(ids, ignore_index)
    keys = _colour_keys(table.colormap[ids])
    if len(np.unique(keys)) != len(keys):
        raise DatasetError(f"{table.name}: two class ids share a colour; a colour map cannot be read back")
    order = np.argsort(keys)
    rgb = np.asarray(colours, dtype=np.uint8)
    pixels = _colour_keys(rgb.reshape(-1, 3))
    at = np.minimum(np.searchsorted(keys[order], pixels), len(keys) - 1)
    unknown = np.flatnonzero(keys[order][at] != pixels)
    if unknown.size:
        y, x = divmod(int(unknown[0]), rgb.shape[1])
        raise DatasetError(
            f"colour {tuple(int(v) for v in rgb[y, x])} at row {y}, column {x} is no {table.name} class colour "
            f"({unknown.size} such pixels)"
        )
    return ids[order][at].reshape(rgb.shape[:2]).astype(np.uint8)


def _colour_keys(rgb: np.ndarray) -> np.ndarray:
    """One integer per colour: R << 16 | G << 8 | B."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def write_class_id_mask(
    source: PathLike, target: PathLike, labels: LabelSet | str = "pascal_voc", *, ignore_index: int | None = 255
) -> None:
    """Convert a colour-map mask file into a palette PNG of class ids (coloured with the label set's palette).

    The form of PASCAL VOC's own `SegmentationClass` masks: `read_mask` reads it, an image viewer shows its
    colours. The registry uses it for targets published as RGB colour maps (`registry.fetch(..., convert=...)`).

    Args:
        source: The colour-map mask (any image Pillow reads; converted to RGB).
        target: Where the PNG is written (the format is PNG whatever the name).
        labels: The label set whose colours `source` uses.
        ignore_index: The id of unlabelled pixels (see `class_ids_from_colours`).

    Raises:
        DatasetError: `source` is not a readable image, or a pixel's colour is no class's.
    """
    try:
        with Image.open(source) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{source}: not a readable mask image ({exc})") from None
    try:
        ids = class_ids_from_colours(rgb, labels, ignore_index=ignore_index)
    except DatasetError as exc:
        raise DatasetError(f"{source}: {exc}") from None
    table = label_set(labels) if isinstance(labels, str) else labels
    out = Image.fromarray(ids)
    out.putpalette(table.colormap.flatten().tolist())  # an L image with a palette becomes a P image
    out.save(target, format="PNG")


def _pairs(images: Path, masks: Path, mask_ext: str) -> tuple[LabelledImage, ...]:
    for folder, what in ((images, "image"), (masks, "mask")):
        if not folder.is_dir():
            raise DatasetError(f"{what} folder not found: {folder}")
    files = sorted(p for p in images.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {images}")
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise DatasetError(f"{images}: several images share the stem {dupes[0]!r}; masks are matched by stem")
    items = []
    for path in files:
        mask = masks / f"{path.stem}{mask_ext}"
        if not mask.is_file():
            raise DatasetError(f"{path}: no mask for this image (expected {mask})")
        items.append(LabelledImage(path.stem, path, mask))
    return tuple(items)


def voc_folder(
    images: PathLike,
    masks: PathLike,
    *,
    labels: LabelSet | str = "pascal_voc",
    ignore_index: int | None = 255,
    name: str | None = None,
) -> LabelledDataset:
    """PASCAL VOC-style pairs: `images/<stem>.jpg|png` with class-id masks `masks/<stem>.png` (255 = void).

    Args:
        images: The folder of photos.
        masks: The folder of class-id PNG masks, one per photo, named by the photo's stem.
        labels: The masks' label set: a name (`pascal_voc`, `cityscapes`, `ade20k`) or a `LabelSet`.
        ignore_index: The mask value of unlabelled pixels, or `None`.
        name: The dataset's name; default, the name of the folder holding `images`.

    Returns:
        The dataset; masks are read (and checked) only when a pair is loaded.

    Raises:
        DatasetError: A folder is missing, `images` holds no image, two images share a stem, an image has no
            mask, or `labels` is an unknown name.
    """
    images, masks = check_path("images", images), check_path("masks", masks)
    if isinstance(labels, str) and labels not in LABEL_SETS:
        raise DatasetError(f"unknown label set {labels!r}; choose one of: {', '.join(LABEL_SETS)} or pass a LabelSet")
    label_names = label_set(labels) if isinstance(labels, str) else labels
    return LabelledDataset(name or images.parent.name, _pairs(images, masks, ".png"), label_names, ignore_index)


def ade20k_folder(root: PathLike, *, name: str | None = None) -> LabelledDataset:
    """The ADE20K SceneParsing layout: `root/images/*.jpg` and `root/annotations/*.png` (150 classes, 0 = other).

    Value 0 ("other") is unlabelled and ignored, as in the SceneParsing benchmark. The zoo's ADE20K models
    predict 32 classes: score them with `ade20k_32_folder`.

    Raises:
        DatasetError: A folder is missing, holds no image, or an image has no annotation.
    """
    root = Path(root)
    items = _pairs(root / "images", root / "annotations", ".png")
    return LabelledDataset(name or root.name, items, label_set("ade20k"), ignore_index=0)


def _ade20k_to_32() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    table[32:] = 0
    table.setflags(write=False)
    return table


#: ADE20K's 150-class annotation ids onto the 32 classes of the DeepLab v3+ ADE20K models: ids above 31 -> 0.
ADE20K_TO_32 = _ade20k_to_32()
ADE20K_32_MAPPING = 'ADE20K ids above 31 mapped to 0 ("other"), as MLPerf Mobile scores this model'


def ade20k_32_folder(images: PathLike, masks: PathLike, *, name: str | None = None) -> LabelledDataset:
    """ADE20K pairs scored against the 32 classes of the v3+ ADE20K zoo models (`ade20k-32`).

    Annotation ids above 31 become 0 ("other"), which the models predict for every class they were not
    trained to name; "other" is scored as a class like any other (nothing is ignored).
    """
    images, masks = Path(images), Path(masks)
    items = _pairs(images, masks, ".png")
    return LabelledDataset(
        name or images.parent.name,
        items,
        label_set("ade20k-32"),
        ignore_index=None,
        truth_map=ADE20K_TO_32,
        mapping=ADE20K_32_MAPPING,
    )


def _cityscapes_to_voc() -> np.ndarray:
    table = np.zeros(256, np.uint8)  # everything else (road, building, sky, truck, ...) -> background
    pairs = {"person": "person", "rider": "person", "car": "car", "bus": "bus", "train": "train"}
    pairs |= {"motorcycle": "motorbike", "bicycle": "bicycle"}
    for src, dst in pairs.items():
        table[CITYSCAPES_NAMES.index(src)] = VOC_NAMES.index(dst)
    table.setflags(write=False)
    return table


# Maps the Cityscapes model's 19 train ids onto VOC ids, to score it (cross-dataset) on VOC masks.
CITYSCAPES_TO_VOC = _cityscapes_to_voc()
