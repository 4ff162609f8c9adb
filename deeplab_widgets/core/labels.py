"""Class names and the standard DeepLab colour maps for PASCAL VOC, Cityscapes, ADE20K and its 32-class cut, and
the colours displays draw classes in over photos (`class_colors`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

import numpy as np

from ..errors import LabelSetNotFoundError, OptionsError

VOC_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

# The 19 Cityscapes *train ids* the models predict (the Coral labels file has an extra
# leading "background" line that is off by one against the model's output).
CITYSCAPES_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip

# SceneParsing (ADE20K, 150 classes); annotation value 0 is "other" (unlabelled).
ADE20K_NAMES = (
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

_CITYSCAPES_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip

# DeepLab's ADE20K colour map (151 entries, 0 = other).
_ADE20K_COLORS = (
    (0, 0, 0), (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3),
    (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255),
    (235, 255, 7), (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140),
    (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51),
    (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92),
    (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8),
    (0, 255, 20), (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20),
    (0, 163, 255), (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0),
    (255, 224, 0), (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255),
    (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112),
    (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255),
    (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0),
    (255, 0, 20), (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204),
    (0, 255, 194), (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255),
    (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0), (143, 255, 0),
    (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255), (0, 255, 92),
    (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0),
    (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235),
    (245, 0, 255), (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255),
    (20, 0, 255), (255, 255, 0), (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255),
    (41, 255, 0), (173, 0, 255), (0, 245, 255), (71, 0, 255), (122, 0, 255), (0, 255, 184),
    (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0),
    (92, 0, 255),
)  # fmt: skip


def pascal_colormap(n: int = 256) -> np.ndarray:
    """DeepLab's bit-shift PASCAL VOC colour map: class id bits spread over R, G, B.

    Args:
        n: How many colours (class ids 0..n-1).
    """
    ids = np.arange(n)
    cmap = np.zeros((n, 3), np.uint8)
    for shift in range(7, -1, -1):
        for channel in range(3):
            cmap[:, channel] |= ((ids >> channel) & 1).astype(np.uint8) << shift
        ids = ids >> 3
    return cmap


def _table(colors: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """A 256-entry lookup table: the given colours, then the PASCAL map for the rest."""
    cmap = pascal_colormap(256)
    cmap[: len(colors)] = colors
    return cmap


@dataclass(frozen=True)
class LabelSet:
    """A dataset's class names and its 256-entry RGB lookup table (uint8, shape 256 x 3)."""

    name: str
    names: tuple[str, ...]
    colormap: np.ndarray

    def __hash__(self) -> int:
        return hash((self.name, self.names))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and (self.name, self.names) == (other.name, other.names)


LABEL_SETS = {
    "pascal_voc": LabelSet("pascal_voc", VOC_NAMES, pascal_colormap()),
    "cityscapes": LabelSet("cityscapes", CITYSCAPES_NAMES, _table(_CITYSCAPES_COLORS)),
    "ade20k": LabelSet("ade20k", ADE20K_NAMES, _table(_ADE20K_COLORS)),
    "ade20k-32": LabelSet("ade20k-32", ADE20K_NAMES[:32], _table(_ADE20K_COLORS[:32])),
}
for _labels in LABEL_SETS.values():
    _labels.colormap.setflags(write=False)


def label_set(name: str) -> LabelSet:
    """The label set of a dataset: `pascal_voc`, `cityscapes`, `ade20k` (150 classes + other) or `ade20k-32`.

    `ade20k-32` is what the DeepLab v3+ ADE20K zoo models predict: 0 = "other" (every ADE20K class
    above 31) and ADE20K classes 1..31 (wall ... armchair), with DeepLab's ADE20K colours.

    Args:
        name: `pascal_voc`, `cityscapes`, `ade20k` or `ade20k-32`.

    Raises:
        LabelSetNotFoundError: `name` is not one of those (the message lists them).
    """
    if not isinstance(name, str) or name not in LABEL_SETS:
        raise LabelSetNotFoundError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}")
    return LABEL_SETS[name]


def generic_label_set(names: tuple[str, ...]) -> LabelSet:
    """Names for a user model's classes, coloured with the PASCAL map (as DeepLab does).

    Args:
        names: One name per class.
    """
    return LabelSet("custom", tuple(names), LABEL_SETS["pascal_voc"].colormap)


#: Class colours for drawing over photos: saturated colours of medium to high lightness, each of which changes the
#: hue and chroma of every kind of photo pixel when blended at the default opacity (tests/test_palette.py measures
#: it on the sample photos), in an order where each colour is the farthest (CIEDE2000) from all before it, so a
#: label set's first classes get the most distinct colours. Chosen from a 16-level sRGB grid by that greedy order.
CONTRAST_COLORS = (
    (255, 0, 255), (0, 255, 0), (255, 136, 0), (0, 187, 255), (221, 0, 51), (85, 102, 187), (255, 221, 0),
    (0, 255, 238), (187, 170, 255), (255, 119, 153), (187, 51, 136), (0, 187, 136), (153, 34, 255), (17, 136, 221),
    (255, 153, 238), (0, 187, 17), (255, 51, 0), (0, 255, 170), (153, 119, 204), (238, 170, 0), (119, 136, 255),
    (255, 0, 136), (204, 102, 170), (255, 85, 85), (136, 85, 170), (204, 0, 204), (0, 204, 187), (17, 238, 255),
    (102, 170, 255), (204, 119, 255), (119, 102, 255), (204, 51, 102), (34, 221, 102), (255, 0, 85), (255, 0, 187),
    (170, 85, 221), (255, 102, 221), (238, 136, 187), (34, 119, 255), (51, 221, 170), (221, 187, 0), (221, 85, 119),
    (221, 153, 255), (153, 170, 255), (119, 119, 204), (255, 85, 170), (204, 85, 204), (68, 85, 255),
)  # fmt: skip
#: Classes that stand for "nothing in particular" (PASCAL VOC's background, ADE20K's other): no colour over photos.
CLEAR_NAMES = frozenset({"background", "other", "unlabeled", "unlabelled", "void"})

#: The class colours a display can use: `"contrast"` (`CONTRAST_COLORS`, the "nothing in particular" classes left
#: uncoloured over photos; the default) or `"dataset"` (the dataset's own colour map, e.g. PASCAL VOC's, every
#: class coloured; exported masks always carry it, as their pixel values are the class ids).
Palette = Literal["contrast", "dataset"]
PALETTES: tuple[Palette, ...] = get_args(Palette)


@dataclass(frozen=True, eq=False)
class ClassColors:
    """The colours a display draws the classes of one label set in.

    Attributes:
        colormap: 256 x 3 uint8, a colour per class id: what the mask mode and the legend show.
        clear: Class ids that an overlay leaves uncoloured (the photo shows through); the mask mode draws them
            in their colour (black for the "contrast" palette).
    """

    colormap: np.ndarray
    clear: frozenset[int]


def class_colors(class_names: Sequence[str], colormap: np.ndarray, palette: Palette = "contrast") -> ClassColors:
    """The display colours of a label set: its dataset `colormap`, or `CONTRAST_COLORS` in class order with the
    `CLEAR_NAMES` classes left clear (black in the mask mode).

    Args:
        class_names: The model's class names (ids beyond them are coloured too).
        colormap: The dataset's 256 x 3 colour map (`LabelSet.colormap`, `SegmentationResult.colormap`).
        palette: `"contrast"` or `"dataset"`.

    Raises:
        OptionsError: An unknown palette.
    """
    if palette == "dataset":
        return ClassColors(np.asarray(colormap, np.uint8), frozenset())
    if palette != "contrast":
        raise OptionsError(f"unknown palette {palette!r}; choose one of: {', '.join(PALETTES)}")
    return _contrast_colors(tuple(class_names))


@lru_cache(maxsize=16)
def _contrast_colors(class_names: tuple[str, ...]) -> ClassColors:
    clear = frozenset(i for i, name in enumerate(class_names) if name.strip().lower() in CLEAR_NAMES)
    colours = np.zeros((256, 3), np.uint8)
    coloured = [i for i in range(256) if i not in clear]
    colours[coloured] = np.resize(np.array(CONTRAST_COLORS, np.uint8), (len(coloured), 3))
    colours.setflags(write=False)
    return ClassColors(colours, clear)
