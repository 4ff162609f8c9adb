"""Evaluation on the real labelled VOC images with the real zoo models; dataset readers; comparison; plots."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ALL_MODELS, PASCAL_MODELS
from matplotlib.figure import Figure
from PIL import Image

from deeplab_widgets import RuntimeOptions, load_sample
from deeplab_widgets.cli import main
from deeplab_widgets.errors import DatasetError, OptionsError
from deeplab_widgets.viz.evaluation import (
    plot_accuracy_vs_latency,
    plot_class_iou,
    plot_confusion,
    plot_disagreement,
    plot_worst_images,
)
from deeplab_widgets.workflows.compare import compare_models, comparison_markdown, comparison_table, disagreement
from deeplab_widgets.workflows.datasets import CITYSCAPES_TO_VOC, LabelledDataset, ade20k_folder, read_mask, voc_folder
from deeplab_widgets.workflows.evaluate import _tile_starts, evaluate, label_map_for, multiscale_probabilities, predict


@pytest.fixture(scope="session")
def evaluations(segmenters, voc):
    """Each PASCAL zoo model scored once on the 15 VOC images (predictions kept for the views)."""
    return {name: evaluate(segmenters[name], voc, keep_predictions=True, progress=False) for name in PASCAL_MODELS}


# --- datasets -------------------------------------------------------------------------------------


def test_voc_folder_pairs_images_and_masks_by_stem(voc: LabelledDataset, shared: Path) -> None:
    folder = voc_folder(shared / "eval" / "voc" / "images", shared / "eval" / "voc" / "masks")
    assert folder.items == voc.items and folder.name == voc.name  # the mirror folder, read as a user's own
    assert len(voc) == 15
    assert voc.num_classes == 21 and voc.ignore_index == 255
    assert all(it.image_path.stem == it.mask_path.stem == it.name for it in voc)
    image, mask = voc.load("icevision_2007_000063")
    assert image.size == (500, 375) and mask.shape == (375, 500)
    assert set(np.unique(mask)) == {0, 9, 12, 255}  # background, chair, dog, void


def test_ade20k_layout(shared: Path) -> None:
    ade = ade20k_folder(shared / "eval" / "ade20k")
    assert [it.name for it in ade] == ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003"]
    assert ade.num_classes == 151 and ade.ignore_index == 0
    image, mask = ade.load(2)
    assert mask.shape == (image.height, image.width) == (300, 400)
    assert 21 in np.unique(mask)  # a car


def _pair(folder: Path, name: str, size=(16, 12), mask_size=None, values=(0, 1), mode="P") -> None:
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    Image.new("RGB", size, (90, 120, 200)).save(folder / "images" / f"{name}.jpg")
    w, h = mask_size or size
    mask = np.resize(np.array(values, np.uint8), (h, w))
    Image.fromarray(mask, "L").convert(mode).save(folder / "masks" / f"{name}.png")


def test_missing_mask_names_the_image(tmp_path: Path) -> None:
    _pair(tmp_path, "a")
    Image.new("RGB", (16, 12)).save(tmp_path / "images" / "b.png")
    with pytest.raises(DatasetError) as err:
        voc_folder(tmp_path / "images", tmp_path / "masks")
    assert (
        str(err.value)
        == f"{tmp_path / 'images' / 'b.png'}: no mask for this image (expected {tmp_path / 'masks' / 'b.png'})"
    )


def test_size_mismatch_names_the_mask(tmp_path: Path) -> None:
    _pair(tmp_path, "a", size=(16, 12), mask_size=(12, 16))
    ds = voc_folder(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(DatasetError) as err:
        ds.load(0)
    assert str(err.value) == f"{tmp_path / 'masks' / 'a.png'}: mask is 12x16 but its image a.jpg is 16x12"


def test_out_of_range_labels_name_the_mask(tmp_path: Path) -> None:
    _pair(tmp_path, "a", values=(0, 21, 255, 40))
    ds = voc_folder(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(DatasetError) as err:
        ds.load("a")
    assert (
        str(err.value)
        == f"{tmp_path / 'masks' / 'a.png'}: labels [21, 40] are outside 0..20 (or 255 = ignore) for pascal_voc"
    )


def test_colour_masks_missing_folders_and_empty_folders(tmp_path: Path) -> None:
    _pair(tmp_path, "a", mode="RGB")
    with pytest.raises(DatasetError, match=r"a\.png: mask mode is RGB; expected a palette \(P\) or greyscale \(L\)"):
        read_mask(tmp_path / "masks" / "a.png")
    with pytest.raises(DatasetError, match=r"^mask folder not found: .*nowhere$"):
        voc_folder(tmp_path / "images", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"^no images \(.*\) in .*empty$"):
        voc_folder(tmp_path / "empty", tmp_path / "masks")
    with pytest.raises(DatasetError, match=r"^unknown label set 'coco'; choose one of: pascal_voc, cityscapes, ade20k"):
        voc_folder(tmp_path / "images", tmp_path / "masks", labels="coco")
    (tmp_path / "masks" / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"junk\.png: not a readable mask image"):
        read_mask(tmp_path / "masks" / "junk.png")


# --- accuracy of the zoo models on real ground truth ----------------------------------------------


@pytest.mark.parametrize("model", PASCAL_MODELS)
def test_every_pascal_model_is_accurate_on_voc(evaluations, model: str) -> None:
    e = evaluations[model]
    assert e.pixel_accuracy > 0.93
    assert e.overall.pixels == 3_673_291  # every non-void pixel of the 15 masks was scored
    assert len(e.images) == 15 and all(s.prediction is not None for s in e.images)


def test_dm10_beats_dm05(evaluations) -> None:
    assert evaluations["deeplabv3-mnv2-voc"].miou > evaluations["deeplabv3-mnv2-dm05-voc"].miou > 0.7


def test_per_image_matrices_add_up_to_the_overall_one(evaluations) -> None:
    e = evaluations["deeplabv3-mnv2-voc"]
    total = sum(s.metrics.confusion for s in e.images)
    np.testing.assert_array_equal(total, e.overall.confusion)
    worst = e.worst(3)
    assert [s.miou for s in worst] == sorted(s.miou for s in e.images)[:3]
    assert json.loads(json.dumps(e.to_dict()))["images"] == 15


def test_evaluation_matches_a_direct_comparison(segmenters, voc) -> None:
    seg = segmenters["deeplabv3-mnv2-dm05-voc"]
    image, truth = voc.load("vainf_val0_d1182fc")
    pred = seg.segment(image).labels
    valid = truth != 255
    one = LabelledDataset("one", (voc.item("vainf_val0_d1182fc"),), voc.labels)
    assert evaluate(seg, one, progress=False).pixel_accuracy == pytest.approx((pred == truth)[valid].mean(), abs=1e-12)


# --- test-time augmentation -----------------------------------------------------------------------


def test_flip_tta_keeps_the_shape_and_is_deterministic(starter, voc) -> None:
    image, _ = voc.load("icevision_2007_000063")  # 500x375: not square
    for resize in ("stretch", "pad"):
        seg = starter.with_options(resize=resize)
        first = predict(seg, image, tta="flip")
        assert first.shape == (375, 500) and first.dtype == np.uint8
        np.testing.assert_array_equal(first, predict(seg, image, tta="flip"))


def test_flip_tta_commutes_with_mirroring(starter, voc) -> None:
    image = voc.load("vainf_val582_d1182fc")[0].resize((257, 257))  # model resolution: no resampling
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    plain = starter.segment(image).labels
    assert not np.array_equal(starter.segment(mirrored).labels[:, ::-1], plain)  # the model alone is not symmetric
    np.testing.assert_array_equal(predict(starter, mirrored, tta="flip"), predict(starter, image, tta="flip")[:, ::-1])


def test_bilinear_upsampling_equals_argmax_at_model_resolution(starter, voc) -> None:
    image = voc.load("vainf_val0_d1182fc")[0]
    np.testing.assert_array_equal(
        predict(starter, image.resize((257, 257)), upsample="bilinear"),
        starter.segment(image.resize((257, 257))).labels,
    )
    up = predict(starter, image, upsample="bilinear")
    assert up.shape == (513, 513)
    assert (up == starter.segment(image).labels).mean() > 0.97  # differs only along class borders


@pytest.mark.slow
@pytest.mark.parametrize("model", ALL_MODELS)
def test_flip_and_multiscale_tta_work_for_every_model(segmenters, model: str) -> None:
    image = load_sample("kite_and_cold")  # 1352x900: the 1.25 scale needs two tiles across
    seg = segmenters[model]
    plain = predict(seg, image)
    for tta in ("flip", "multiscale"):
        labels = predict(seg, image, tta=tta)
        assert labels.shape == plain.shape and labels.dtype == np.uint8
        assert 0.75 < (labels == plain).mean() < 1.0  # an augmentation changes some pixels, not the picture


def test_multiscale_at_scale_one_is_the_plain_prediction(segmenters) -> None:
    image = load_sample("kite_and_cold")
    for model in ("deeplabv3-starter", "deeplabv3-mnv2-voc"):  # stretch and pad
        seg = segmenters[model]
        np.testing.assert_array_equal(
            multiscale_probabilities(seg, image, scales=(1.0,)), seg.segment(image, scores=True).scores
        )


def test_tile_starts_cover_the_length_with_overlap() -> None:
    assert _tile_starts(500, 513) == [0]
    assert _tile_starts(641, 513) == [0, 128]
    starts = _tile_starts(1600, 513)
    assert starts[0] == 0 and starts[-1] == 1600 - 513
    assert all(b - a <= 513 * 2 / 3 for a, b in itertools.pairwise(starts))


def test_unknown_tta_is_refused(segmenters, voc) -> None:
    with pytest.raises(OptionsError) as err:
        predict(segmenters["deeplabv3-starter"], voc.load(0)[0], tta="rotate")
    assert str(err.value) == "unknown TTA 'rotate'; choose one of: None, flip, multiscale, multiscale+flip"


def test_flip_tta_evaluation_on_a_subset(starter, voc) -> None:
    two = LabelledDataset("two", voc.items[:2], voc.labels)
    plain, flipped = evaluate(starter, two, progress=False), evaluate(starter, two, tta="flip", progress=False)
    assert flipped.tta == "flip" and flipped.label == "deeplabv3-starter (flip TTA)"
    assert flipped.overall.pixels == plain.overall.pixels
    assert flipped.pixel_accuracy > 0.85


# --- cross-dataset and label checks ---------------------------------------------------------------


def test_cityscapes_model_is_mapped_onto_voc(segmenters, voc, shared: Path) -> None:
    city = segmenters["deeplab-edgetpu-slim-cityscapes"]
    assert label_map_for(city, voc) is CITYSCAPES_TO_VOC
    assert CITYSCAPES_TO_VOC[11] == CITYSCAPES_TO_VOC[12] == 15 and CITYSCAPES_TO_VOC[13] == 7
    assert CITYSCAPES_TO_VOC[0] == 0 and CITYSCAPES_TO_VOC[14] == 0  # road, truck -> background
    sub = LabelledDataset("one", (voc.item("vainf_val294_c516a72"),), voc.labels)  # car and person
    e = evaluate(city, sub, progress=False)
    assert e.mapped and e.overall.iou[15] > 0.3  # it finds the person
    with pytest.raises(DatasetError, match=r"predicts 21 pascal_voc classes but ade20k is labelled with 151 ade20k"):
        label_map_for(segmenters["deeplabv3-starter"], ade20k_folder(shared / "eval" / "ade20k"))


# --- comparison -----------------------------------------------------------------------------------


def test_disagreement_between_two_models(segmenters) -> None:
    photo = load_sample("bird_segmentation")
    a = segmenters["deeplabv3-mnv2-dm05-voc"].segment(photo)
    b = segmenters["deeplabv3-mnv2-voc"].segment(photo)
    diff = disagreement(a, b)
    assert diff.mask.shape == a.labels.shape
    assert 0 < diff.fraction < 0.08  # each agrees with the reference mask on 96-98% of the pixels
    assert diff.fraction == pytest.approx(sum(f for *_, f in diff.pairs), rel=0.2)
    assert {diff.pairs[0][0], diff.pairs[0][1]} <= {"background", "bird"}
    assert disagreement(a, a).fraction == 0.0
    city = segmenters["deeplab-edgetpu-slim-cityscapes"].segment(photo)
    with pytest.raises(OptionsError, match="class ids of different label sets cannot be compared"):
        disagreement(a, city)


def test_comparison_table(evaluations) -> None:
    evals = [evaluations[m] for m in PASCAL_MODELS]
    rows = comparison_table(evals)
    assert [r.model for r in rows] == list(PASCAL_MODELS)
    assert rows[2].miou == evals[2].miou and rows[2].median_ms == evals[2].median_ms and rows[2].images == 15
    text = comparison_markdown(rows)
    assert text.count("\n") == 4 and f"| deeplabv3-mnv2-voc | {evals[2].miou:.3f} |" in text


# --- views ----------------------------------------------------------------------------------------


def test_error_analysis_figures(evaluations, voc, segmenters) -> None:
    e = evaluations["deeplabv3-mnv2-voc"]
    fig = plot_confusion(e.overall)
    assert isinstance(fig, Figure)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert shown[0] == "background" and len(shown) == len(e.overall.present)  # no classes predicted outside the GT
    bars = plot_class_iou([evaluations[m] for m in PASCAL_MODELS])
    assert len(bars.axes[0].patches) == 3 * len(e.overall.present)
    worst = plot_worst_images(e, voc, n=2)
    assert len(worst.axes) == 6 and worst.axes[2].get_title().startswith("deeplabv3-mnv2-voc: mIoU")
    scatter = plot_accuracy_vs_latency([evaluations[m] for m in PASCAL_MODELS])
    assert len(scatter.axes[0].collections) == 3
    plain = evaluate(segmenters["deeplabv3-starter"], LabelledDataset("one", voc.items[:1], voc.labels), progress=False)
    with pytest.raises(OptionsError, match=r"keep_predictions=True"):
        plot_worst_images(plain, voc)


def test_disagreement_figure(segmenters) -> None:
    photo = load_sample("bird_segmentation")
    a, b = (segmenters[m].segment(photo) for m in ("deeplabv3-starter", "deeplabv3-mnv2-voc"))
    fig = plot_disagreement(photo, a, b, disagreement(a, b))
    assert len(fig.axes) == 3 and fig.axes[2].get_title().startswith("disagree on ")


# --- command line ---------------------------------------------------------------------------------


def test_cli_eval_json(shared: Path, capsys) -> None:
    voc = shared / "eval" / "voc"
    folders = ["--images", str(voc / "images"), "--masks", str(voc / "masks")]
    code = main(["eval", "--model", "deeplabv3-mnv2-dm05-voc", *folders, "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "deeplabv3-mnv2-dm05-voc" and data["images"] == 15
    assert data["pixel_accuracy"] > 0.93 and len(data["per_image"]) == 15


@pytest.mark.slow
def test_cli_eval_flip_tta_on_an_argmax_model(shared: Path, capsys) -> None:
    voc = shared / "eval" / "voc"
    folders = ["--images", str(voc / "images"), "--masks", str(voc / "masks")]
    code = main(["eval", "--model", "deeplabv3-mnv2-dm05-voc", *folders, "--tta", "flip", "--json", "--threads", "2"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tta"] == "flip" and data["pixel_accuracy"] > 0.93


def test_cli_eval_ade20k_maps_the_ground_truth_and_says_so(shared: Path, capsys) -> None:
    ade = shared / "eval" / "ade20k"
    code = main(
        [
            "eval",
            "--model",
            "deeplabv3plus-mnv2-ade20k",
            "--images",
            str(ade / "images"),
            "--masks",
            str(ade / "annotations"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert 'ground truth: ADE20K ids above 31 mapped to 0 ("other"), as MLPerf Mobile scores this model' in out
    assert "3 images are a sanity check, not a benchmark." in out
    accuracy = float(out.split("pixel accuracy ")[1].split(",")[0])
    miou = float(out.split("  mIoU ")[1].split()[0])
    assert 0.7 < accuracy < 0.9 and 0.3 < miou < 0.6  # measured: 0.788 and 0.414


def test_evaluate_and_compare_models_take_any_model_by_one_name(starter, voc) -> None:
    one = LabelledDataset("one", voc.items[:1], voc.labels)
    by_id = evaluate("deeplabv3-starter", one, progress=False)
    by_segmenter = evaluate(starter, one, progress=False)
    assert by_id.overall == by_segmenter.overall and by_id.model == "deeplabv3-starter"
    padded = evaluate(starter, one, resize="pad", options=RuntimeOptions(num_threads=1), progress=False)
    assert padded.resize == "pad" and padded.options == "1 thread, XNNPACK" and starter.resize == "stretch"
    with pytest.warns(DeprecationWarning, match=r"evaluate\(segmenter=...\) is deprecated.*use model="):
        old = evaluate(segmenter=starter, dataset=one, progress=False)
    assert old.overall == by_segmenter.overall
    (a, b) = compare_models([starter, "deeplabv3-starter"], one, options=RuntimeOptions(num_threads=1), progress=False)
    assert a.options == b.options == "1 thread, XNNPACK" and a.overall == b.overall
