"""The default class colours stand out on real photos; the dataset colours stay available.

Measure: for a class colour K and every pixel P of the sample photos (each shrunk to at most 96 px), the blended
pixel B = (1 - a) P + a K at the default opacity a = 0.6 (as every overlay draws it) is compared with P in
CIEDE2000 (scikit-image's `deltaE_ciede2000`), twice:

- the whole difference, dE00(B, P);
- the hue-and-chroma difference, dE00 with the lightness term weighted out (kL = 1e6): a colour that only darkens
  or lightens the photo (black, grey, PASCAL VOC's dark maroon "cat") reads as shade, not as a class.

A colour passes when 90% of the photo pixels change by at least `MIN_CHANGE` and `MIN_HUE_CHROMA` (dE00 = 2.3 is
about the smallest visible difference; 10 is a clearly different colour).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from deeplab_widgets import Segmenter, list_samples, load_sample
from deeplab_widgets.core.imaging import colors_of
from deeplab_widgets.core.labels import CONTRAST_COLORS, LABEL_SETS, class_colors
from deeplab_widgets.viz.render import DEFAULT_ALPHA

MIN_CHANGE = 15.0
MIN_HUE_CHROMA = 12.0
PERCENTILE = 10


@pytest.fixture(scope="module")
def photo_lab() -> tuple[np.ndarray, np.ndarray]:
    """Every sample photo's pixels (shrunk to 96 px), as float RGB and as CIELAB."""
    pixels = []
    for sample in list_samples("photo"):
        image = load_sample(sample.name)
        image.thumbnail((96, 96))
        pixels.append(np.asarray(image.convert("RGB"), np.float32).reshape(-1, 3))
    rgb = np.concatenate(pixels)
    return rgb, rgb2lab(rgb[None] / 255)[0]


def change(photo_lab: tuple[np.ndarray, np.ndarray], colour) -> tuple[float, float]:
    """(whole, hue-and-chroma) dE00 between the blended and the photo pixels, the 10th percentile of each."""
    rgb, lab = photo_lab
    blended = rgb2lab(np.round((1 - DEFAULT_ALPHA) * rgb + DEFAULT_ALPHA * np.asarray(colour, np.float32))[None] / 255)[
        0
    ]
    whole = deltaE_ciede2000(lab, blended)
    hue_chroma = deltaE_ciede2000(lab, blended, kL=1e6)
    return float(np.percentile(whole, PERCENTILE)), float(np.percentile(hue_chroma, PERCENTILE))


def test_every_default_class_colour_changes_the_photo_under_it_visibly(photo_lab) -> None:
    weak = []
    for i, colour in enumerate(CONTRAST_COLORS):
        whole, hue_chroma = change(photo_lab, colour)
        if whole < MIN_CHANGE or hue_chroma < MIN_HUE_CHROMA:
            weak.append((i, colour, round(whole, 1), round(hue_chroma, 1)))
    assert not weak, f"class colours that do not stand out on the sample photos: {weak}"


def test_the_measure_fails_the_colours_that_only_darken_the_photo(photo_lab) -> None:
    voc = LABEL_SETS["pascal_voc"].colormap
    for name in ("background", "cat", "car"):  # black, dark maroon and grey in PASCAL VOC's colour map
        _, hue_chroma = change(photo_lab, voc[LABEL_SETS["pascal_voc"].names.index(name)])
        assert hue_chroma < MIN_HUE_CHROMA, name


def test_neighbouring_classes_get_distinct_colours() -> None:
    lab = rgb2lab(np.array(CONTRAST_COLORS, np.float32)[None] / 255)[0]

    def closest(n: int) -> float:
        return min(deltaE_ciede2000(lab[i], lab[j]) for i in range(n) for j in range(i))

    assert closest(20) >= 14  # PASCAL VOC's 20 classes and Cityscapes' 19
    assert closest(31) >= 10  # the 31 classes of the ADE20K models


@pytest.mark.parametrize(
    ("label_set", "clear"), [("pascal_voc", {0}), ("cityscapes", set()), ("ade20k-32", {0}), ("ade20k", {0})]
)
def test_each_label_set_colours_its_classes_from_the_contrast_colours_and_leaves_background_clear(
    label_set: str, clear: set[int]
) -> None:
    labels = LABEL_SETS[label_set]
    colours = class_colors(labels.names, labels.colormap)
    assert colours.clear == clear
    coloured = [i for i in range(len(labels.names)) if i not in clear]
    expected = [CONTRAST_COLORS[k % len(CONTRAST_COLORS)] for k in range(len(coloured))]
    assert [tuple(colours.colormap[i]) for i in coloured] == expected
    assert all(tuple(colours.colormap[i]) == (0, 0, 0) for i in clear)  # the mask mode draws them black
    np.testing.assert_array_equal(class_colors(labels.names, labels.colormap, "dataset").colormap, labels.colormap)


def test_exported_masks_keep_the_dataset_colours(tmp_path) -> None:
    from PIL import Image

    from deeplab_widgets.core.export import save_mask

    result = Segmenter("deeplabv3-starter").segment(load_sample("cat"))
    mask = Image.open(save_mask(result, tmp_path / "cat.png"))
    assert mask.mode == "P" and np.asarray(mask.getpalette()[:63]).tolist() == result.colormap[:21].ravel().tolist()
    assert colors_of(result).colormap[8].tolist() != result.colormap[8].tolist()


def test_make_demos_overlay_leaves_the_background_as_the_photo_and_tints_the_cat(tmp_path) -> None:
    from PIL import Image

    from deeplab_widgets.cli import main

    assert main(["segment", "--sample", "cat", "--overlay", "--out", str(tmp_path)]) == 0  # what `make demo` runs
    overlay = np.asarray(Image.open(tmp_path / "cat_overlay.png").convert("RGB"), np.int16)
    labels = np.asarray(Image.open(tmp_path / "cat_mask.png"))
    photo = np.asarray(load_sample("cat"), np.int16)
    background, cat = labels == 0, labels == 8
    np.testing.assert_array_equal(overlay[background], photo[background])
    tint = 0.5 * photo[cat] + 0.5 * np.array(CONTRAST_COLORS[7])  # the CLI's default opacity, 0.5
    assert np.abs(overlay[cat] - tint).max() <= 1
