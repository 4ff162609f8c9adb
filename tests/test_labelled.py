"""The labelled pairs come through the registry: found in a mirror folder, verified, and a VOC target published as
an RGB colour map converted to class ids exactly (its converted file's SHA-256 the one the registry records).

Downloads cannot happen here: a download is stood in for by the published file placed where pooch keeps it
(`<cache>/downloads/<file>`), which pooch verifies and does not fetch again; the conversion then runs as after a
real download.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import ChecksumError, DatasetError, DownloadError, OptionsError, labelled_pairs
from deeplab_widgets.assets import registry
from deeplab_widgets.core.labels import label_set
from deeplab_widgets.workflows.datasets import class_ids_from_colours, read_mask, write_class_id_mask
from deeplab_widgets.workflows.labelled import CONVERSIONS, labelled_for

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """No mirror, an empty cache (returned), and no network even on a machine that has one."""
    monkeypatch.setenv(registry.MIRROR_ENV, "")
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
    for name in PROXY_VARS:
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens: the connection is refused at once
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def colour_map(mask: np.ndarray) -> np.ndarray:
    """A class-id mask drawn in the VOC palette (void 255 as 224,224,192): how VainF publishes its targets."""
    return label_set("pascal_voc").colormap[mask]


def test_the_pairs_come_from_the_mirror_folder_and_nothing_is_cached(shared, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(registry.MIRROR_ENV, os.pathsep.join(str(shared / n) for n in ("models", "eval")))
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
    voc, ade = labelled_pairs(), labelled_pairs("ade20k-32")
    assert [len(voc), len(ade), voc.num_classes, ade.num_classes] == [15, 3, 21, 32]
    assert voc.items[0].name == "icevision_2007_000063" and [i.name for i in voc] == sorted(i.name for i in voc)
    assert {i.image_path.parent for i in voc} == {shared / "eval" / "voc" / "images"}
    assert {i.mask_path.parent for i in ade} == {shared / "eval" / "ade20k" / "annotations"}
    assert (voc.ignore_index, ade.ignore_index, labelled_pairs("ade20k").ignore_index) == (255, None, 0)
    image, truth = ade.load(0)
    assert truth.shape == (image.height, image.width) and truth.max() <= 31  # ids above 31 became 0, "other"
    assert not (tmp_path / "cache").exists()


def test_an_unknown_label_set_lists_those_with_pairs() -> None:
    with pytest.raises(OptionsError, match=r"^unknown labels 'coco'; choose one of: pascal_voc, ade20k, ade20k-32$"):
        labelled_pairs("coco")
    with pytest.raises(DatasetError, match=r"^no labelled pairs of 'coco' in the registry; known: ade20k, voc$"):
        registry.pairs("coco")
    assert labelled_for("cityscapes") is None


def test_every_voc_mask_survives_the_colour_map_and_back_exactly(voc) -> None:
    for item in voc:
        mask = read_mask(item.mask_path)
        assert np.array_equal(class_ids_from_colours(colour_map(mask)), mask), item.name
    assert set(np.unique(class_ids_from_colours(colour_map(np.array([[0, 20, 255]], np.uint8))))) == {0, 20, 255}


def test_a_colour_outside_the_palette_is_named_with_its_pixel() -> None:
    rgb = colour_map(np.zeros((4, 5), np.uint8))
    rgb[2, 3] = (1, 2, 3)
    with pytest.raises(DatasetError, match=r"^colour \(1, 2, 3\) at row 2, column 3 is no pascal_voc class colour"):
        class_ids_from_colours(rgb)


def test_a_published_colour_target_is_converted_to_the_registry_file(shared, offline) -> None:
    """The conversion writes the mirror's converted file byte for byte, so both hashes hold."""
    pair = next(p for p in registry.pairs("voc") if p.mask.convert)
    mirror_mask = shared / "eval" / pair.mask.file
    published = offline / registry.DOWNLOADS / pair.mask.file
    published.parent.mkdir(parents=True)
    Image.fromarray(colour_map(read_mask(mirror_mask))).save(published)
    asset = replace(pair.mask, download_sha256=registry.sha256_of(published))  # this stand-in's own hash
    path = registry.fetch(asset, progress=False, convert=CONVERSIONS[asset.convert])
    assert path == offline / pair.mask.file
    assert path.read_bytes() == mirror_mask.read_bytes()  # with this Pillow: the same encoder, the same bytes
    assert registry.pixels_sha256(path) == pair.mask.sha256
    assert registry.fetch(asset, convert=None) == path  # now cached: no conversion needed
    assert [p.name for p in offline.rglob("*.part")] == []


def test_a_conversion_with_another_hash_is_refused_and_leaves_no_file(offline) -> None:
    pair = next(p for p in registry.pairs("voc") if p.mask.convert)
    published = offline / registry.DOWNLOADS / pair.mask.file
    published.parent.mkdir(parents=True)
    Image.fromarray(colour_map(np.zeros((8, 8), np.uint8))).save(published)  # not this pair's target
    asset = replace(pair.mask, download_sha256=registry.sha256_of(published))
    with pytest.raises(
        ChecksumError,
        match=rf"^the voc-colours conversion of .* has pixel SHA-256 .* expected {pair.mask.sha256[:12]}\.\.\.",
    ):
        registry.fetch(asset, convert=CONVERSIONS[asset.convert])
    assert not (offline / pair.mask.file).exists()
    assert [p.name for p in offline.rglob("*.part")] == []


def test_a_converted_mask_is_checked_by_its_class_ids_not_by_its_encoders_bytes(shared, tmp_path, monkeypatch) -> None:
    pair = next(p for p in registry.pairs("voc") if p.mask.convert)
    mask = read_mask(shared / "eval" / pair.mask.file)
    again = tmp_path / "mirror" / pair.mask.file
    again.parent.mkdir(parents=True)
    Image.open(shared / "eval" / pair.mask.file).save(again, compress_level=1)  # another encoder setting
    assert again.read_bytes() != (shared / "eval" / pair.mask.file).read_bytes()
    monkeypatch.setenv(registry.MIRROR_ENV, str(tmp_path / "mirror"))
    assert registry.fetch(pair.mask) == again  # the same class ids: accepted
    changed = Image.open(again)
    changed.putpixel((0, 0), (int(mask[0, 0]) + 1) % 21)  # one pixel of another class
    changed.save(again)
    with pytest.raises(ChecksumError, match=rf"^mirror file {again} has pixel SHA-256 .* remove or replace it$"):
        registry.fetch(pair.mask)
    again.write_bytes(b"not a PNG")
    with pytest.raises(ChecksumError, match=rf"^{again} is not a readable image \(.*\); remove or replace it$"):
        registry.fetch(pair.mask)


def test_a_file_that_needs_a_conversion_is_refused_without_one(offline) -> None:
    pair = next(p for p in registry.pairs("voc") if p.mask.convert)
    with pytest.raises(OptionsError, match=r"is published as 'voc-colours' and needs its conversion"):
        registry.fetch(pair.mask)


def test_a_wrong_copy_in_the_mirror_is_never_used(shared, tmp_path, monkeypatch) -> None:
    pair = registry.pairs("ade20k")[0]
    bad = tmp_path / "mirror" / pair.mask.file
    bad.parent.mkdir(parents=True)
    bad.write_bytes((shared / "eval" / pair.mask.file).read_bytes()[:-1])
    monkeypatch.setenv(registry.MIRROR_ENV, os.pathsep.join([str(tmp_path / "mirror"), str(shared / "eval")]))
    with pytest.raises(ChecksumError, match=rf"^mirror file {bad} has SHA-256 .* remove or replace it$"):
        labelled_pairs("ade20k")


def test_offline_without_a_mirror_the_error_names_the_file_and_the_variable(offline) -> None:
    with pytest.raises(DownloadError) as caught:
        labelled_pairs()
    assert str(caught.value) == (
        "could not download 'icevision_2007_000063 image' from https://raw.githubusercontent.com/airctic/icevision/"
        "f7770b8f015539d518fdfb52fd0fe7b96daf08af/samples/voc/JPEGImages/2007_000063.jpg (no connection to "
        "raw.githubusercontent.com); to work offline, put voc/images/icevision_2007_000063.jpg in a folder named by "
        "$DEEPLAB_WIDGETS_MIRROR"
    )
    assert labelled_for("pascal_voc") is None


def test_write_class_id_mask_refuses_a_file_that_is_no_image(tmp_path) -> None:
    (tmp_path / "target.png").write_text("not a picture")
    with pytest.raises(DatasetError, match=r"target\.png: not a readable mask image"):
        write_class_id_mask(tmp_path / "target.png", tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
