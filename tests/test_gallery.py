"""The batch gallery: thumbnails with the classes found, opening one in the MaskViewer without running the model."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import RuntimeOptions, Segmenter, Serial
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.viz.thumbnails import thumbnail
from deeplab_widgets.widgets.gallery import BatchGallery
from deeplab_widgets.workflows.batch import load_result, segment_many


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("gallery")
    (root / "in").mkdir()
    for name in ("pets", "bird", "grace_hopper"):
        shutil.copyfile(sample_path(name), root / "in" / sample_path(name).name)
    (root / "in" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    seg = Segmenter("deeplabv3-starter", RuntimeOptions(num_threads=1))
    return seg, segment_many(root / "in", seg, root / "out", engine=Serial(), progress=False).run()


def test_tiles_show_classes_and_errors(report) -> None:
    _, rep = report
    gallery = BatchGallery(rep, size=96)
    assert len(gallery.tiles) == 4
    assert gallery.status.value == "4 images, 1 failed"
    found = {Path(r.source).name: t for r, t in zip(rep.records, gallery.tiles, strict=True)}
    assert "ImageDecodeError" in found["broken.jpg"].children[1].value
    assert "dog" in found["pets.jpg"].children[2].value
    assert "bird" in found["bird.bmp"].children[2].value
    assert "person" in found["grace_hopper.bmp"].children[2].value
    thumb = Image.open(io.BytesIO(found["pets.jpg"].children[0].value))
    assert max(thumb.size) == 96


def test_click_opens_the_saved_mask_without_running_the_model(report) -> None:
    seg, rep = report
    gallery = BatchGallery(rep)
    runs = seg.invocations
    index = next(i for i, r in enumerate(rep.records) if r.source.endswith("pets.jpg"))
    gallery.tiles[index].button.click()
    shown = gallery.viewer.result
    assert seg.invocations == runs
    assert gallery.selected == index and "pets.jpg" in gallery.status.value
    assert np.array_equal(shown.labels, np.asarray(Image.open(rep.records[index].mask)))
    assert [c.name for c in shown.present_classes()] == [c.name for c in rep.records[index].classes]
    assert gallery.viewer.photo and gallery.viewer.revision >= 1  # the viewer sent the picture to the browser

    # A mask deleted since the run: the status line says so and the viewer keeps the last good result.
    other = next(i for i, r in enumerate(rep.records) if r.source.endswith("bird.bmp"))
    moved = rep.records[other].mask.with_suffix(".moved")
    rep.records[other].mask.rename(moved)
    try:
        gallery.tiles[other].button.click()
    finally:
        moved.rename(rep.records[other].mask)
    assert "cannot open bird.bmp" in gallery.status.value
    assert gallery.viewer.result is shown and gallery.selected == index
    broken = next(i for i, r in enumerate(rep.records) if not r.ok)
    gallery.show_record(broken)
    assert "broken.jpg was not segmented" in gallery.status.value
    assert gallery.viewer.result is shown


def test_thumbnail_keeps_class_ids(report) -> None:
    _, rep = report
    record = next(r for r in rep.records if r.source.endswith("bird.bmp"))
    result = load_result(record)
    photo = Image.open(record.source).convert("RGB")
    small = thumbnail(photo, result, size=64, alpha=1.0, palette="dataset")
    assert max(small.size) == 64
    colours = {tuple(c) for c in np.asarray(small).reshape(-1, 3)}
    assert colours <= {tuple(result.colormap[i]) for i in np.unique(result.labels)}
    with pytest.raises(ValueError, match="image is 10x10 but the mask is 512x343"):
        thumbnail(Image.new("RGB", (10, 10)), result)
