"""Notebooks 01 and 04: their exercises tell a right answer from a wrong one, and the corrected claims hold on the
real models (each number the notebooks state is measured here again).

Right answers are reference solutions written here (for the exercises that ask for code) or the package's own
computation; wrong ones are the mistakes a learner makes (the every-4th-cell grid, the flip gain for the
multi-scale one, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import Probe, Segmenter, derive, evaluate, labelled_pairs, load_sample
from deeplab_widgets.analysis import concepts as c
from deeplab_widgets.analysis.cost import compute_cost
from deeplab_widgets.exercises import check, exercises
from deeplab_widgets.workflows.compare import disagreement
from deeplab_widgets.workflows.datasets import read_mask
from deeplab_widgets.workflows.variants import Variant, score_variants

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"01": ROOT / "notebooks" / "01_architecture.ipynb", "04": ROOT / "notebooks" / "04_evaluation.ipynb"}
CHECK_CALL = re.compile(r'^check\("(\d\d\.[\w-]+)", (\w+)\);$')


def check_cells(notebook: str) -> list[tuple[str, str]]:
    """(exercise, answer variable) of every check cell of a notebook, in order."""
    cells = nbformat.read(NOTEBOOKS[notebook], as_version=4).cells
    return [m.groups() for cell in cells if cell.cell_type == "code" and (m := CHECK_CALL.match(cell.source))]


@pytest.mark.parametrize("notebook", ["01", "04"])
def test_every_exercise_of_the_notebook_ends_with_its_check_cell(notebook: str) -> None:
    cells = nbformat.read(NOTEBOOKS[notebook], as_version=4).cells
    checked = check_cells(notebook)
    assert [name for name, _ in checked] == [e.name for e in exercises(notebook)]  # each once, in order
    assert len(checked) >= 5
    for name, variable in checked:  # the answer cell just before the check starts unanswered
        k = next(i for i, cell in enumerate(cells) if cell.source == f'check("{name}", {variable});')
        assert cells[k - 1].source.startswith(f"{variable} = None"), name
    prose = "".join(cell.source for cell in cells if cell.cell_type == "markdown")
    assert prose.count("(write code)") >= 3  # exercises where the learner writes code, not only a number
    assert prose.count("<summary>Worked answer</summary>") >= 4


# ------------------------------------------------------------------------------------------ notebook 01


def holes(rates) -> bool:
    """Reference solution: does a stack of 3x3 filters at `rates` leave an offset of its receptive field unreached?"""
    reached = {0}
    for r in rates:
        reached = {a + t for a in reached for t in (-r, 0, r)}
    return len(reached) < 2 * sum(rates) + 1


def to_photo(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    labels = c.upsample_bilinear(logits, (512, 512)).argmax(-1).astype(np.uint8)
    return np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.NEAREST))


def aligned_gain(k: int, *, every_4th: bool = False) -> float:
    """Reference solution of exercise 6, with its own aligned indices (or the every-4th-cell mistake)."""
    photo, truth = labelled_pairs("ade20k-32").load(k)
    fine = Probe("deeplabv3plus-mnv2-ade20k-int8").run(photo).coarse_logits()
    idx = np.arange(0, 128, 4) if every_4th else np.rint(np.linspace(0, 127, 32)).astype(int)
    coarse = fine[np.ix_(idx, idx)]
    return float(np.mean(to_photo(fine, truth.shape) == truth) - np.mean(to_photo(coarse, truth.shape) == truth))


def scale_and_detail() -> tuple[float, float]:
    seg = Segmenter("deeplabv3-starter")
    big = derive("deeplabv3-starter", output_stride=16, input_size=513).segmenter()
    runs = {"257": Variant(seg), "513": Variant(big), "513, detail 257": Variant(big, detail=257)}
    s = {x.name: x.miou for x in score_variants(runs, labelled_pairs(), bootstrap_rounds=10)}
    return s["513"] - s["513, detail 257"], s["513, detail 257"] - s["257"]


@pytest.mark.slow
def test_the_exercises_of_notebook_01_tell_right_from_wrong(capsys) -> None:
    macs = {s: compute_cost(derive("deeplabv3-mnv2-dm05-voc", output_stride=s).content).total_macs for s in (8, 16)}
    detail, scale = scale_and_detail()
    photo = load_sample("bird_segmentation")
    low = [
        float((Probe(m).run(photo).confidence() < 0.9).mean())
        for m in ("deeplabv3-mnv2-voc", "deeplabv3-mnv2-dm05-voc")
    ]
    first_half = next(r for r in range(1, 99) if c.valid_taps(33, r).center_only >= 0.5)
    answers = {  # exercise: (right, wrong)
        "01.gridding": (holes, lambda rates: len(set(rates)) == 1),  # "only equal rates grid"
        "01.os8-macs": (macs[8] / macs[16], 4.0),  # "four times the positions" ignores the unchanged blocks
        "01.scale-or-detail": ((detail, scale), (scale, detail)),
        "01.degenerate-rate": (first_half, 33),
        "01.confidence": (tuple(low), tuple(reversed(low))),
        "01.decoder-gain": (aligned_gain, lambda k: aligned_gain(k, every_4th=True)),
        "01.extent": ({18}, {12, 18}),
    }
    assert set(answers) == {e.name for e in exercises("01")}
    for name, (right, wrong) in answers.items():
        assert check(name, right), capsys.readouterr().out
        assert not check(name, wrong), name
    assert capsys.readouterr().out.count("not yet - ") == len(answers)


@pytest.mark.slow
def test_scale_not_detail_is_what_the_starters_257_px_input_costs() -> None:
    """Notebook 01, exercise 3 and 04's worked answer: detail about 0.1 point, scale about 18 points of mIoU."""
    detail, scale = scale_and_detail()
    assert abs(detail) < 0.01 and 0.15 < scale < 0.22


@pytest.mark.slow
def test_the_decoder_logits_on_the_aligned_stride_16_grid_lose_little() -> None:
    """Notebook 01's v3+ section: every 4th cell shifts the map (0.888); the aligned grid keeps 0.920."""
    ade = labelled_pairs("ade20k-32")
    photo, truth = ade.load(0)
    fine = Probe("deeplabv3plus-mnv2-ade20k-int8").run(photo).coarse_logits()
    aligned, shifted = to_photo(c.subsample_aligned(fine, (32, 32)), truth.shape), to_photo(fine[::4, ::4], truth.shape)
    assert round(float(np.mean(to_photo(fine, truth.shape) == truth)), 3) == 0.923
    assert round(float(np.mean(aligned == truth)), 3) == 0.920 and round(float(np.mean(shifted == truth)), 3) == 0.888
    assert round(c.boundary_errors(aligned, truth, ignore=None)[1].error, 3) == 0.265  # 2-3 px: not 42.2%
    assert [round(aligned_gain(k), 3) for k in range(3)] == [0.003, 0.005, 0.005]  # a fraction of a point


def test_the_claims_on_filters_hold() -> None:
    """Multi-grid at OS 16 grids; rate 6 at OS 16 spans 193 px; the starter's encoder has 160 channels."""
    assert round(c.coverage((2, 4, 8)), 2) == 0.27 and c.coverage((1, 2, 4)) == 1.0
    assert c.input_extent(3, 6, 16) == 193 and {r for r in (6, 12, 18) if c.input_extent(3, r, 16) > 513} == {18}
    first_half = {n: next(r for r in range(1, 99) if c.valid_taps(n, r).center_only >= 0.5) for n in (33, 41)}
    assert first_half == {33: 29, 41: 35}  # the rate of exercise 4 grows with the map
    enc = Probe("deeplabv3-starter").run(load_sample("bird_segmentation")).encoder_features()
    assert enc.shape == (33, 33, 160)
    source = NOTEBOOKS["01"].read_text()
    assert "of 320 channels" not in source and "answer to gridding" not in source and "13 pixel box" not in source


def test_the_void_outline_is_wider_on_the_resized_masks(voc) -> None:
    widths = {item.name: c.void_band_width(read_mask(item.mask_path)) for item in voc}
    assert widths.pop("icevision_2007_000063") == 4.0  # VOC's own mask, at its size
    assert len(widths) == 14 and np.median(list(widths.values())) == 7.0 and min(widths.values()) >= 6.0


def test_the_dm05_models_low_confidence_spreads_beyond_the_outline() -> None:
    """Notebook 01, exercise 5's worked answer."""
    from deeplab_widgets import sample_path

    photo = load_sample("bird_segmentation")
    ref = c.void_except(np.asarray(Image.open(sample_path("bird_segmentation_mask"))), keep=(0, 3))
    near = c.boundary_distance(np.where(ref == 255, 0, ref), max_distance=64) < 8
    strong, weak = (Probe(m).run(photo).confidence() < 0.9 for m in ("deeplabv3-mnv2-voc", "deeplabv3-mnv2-dm05-voc"))
    assert 0.04 < strong.mean() < 0.06 and 0.13 < weak.mean() < 0.17  # about 5% and 15% of the photo
    assert (strong & near).sum() / strong.sum() > 0.8  # almost all near the outline
    assert (weak & near).sum() / weak.sum() < 0.5 and (weak & near).sum() > (strong & near).sum()  # a wider band


# ------------------------------------------------------------------------------------------ notebook 04


def all_background(confusion: np.ndarray) -> tuple[float, float]:
    """Reference solution: pixel accuracy and mIoU of a model predicting class 0 everywhere."""
    truth = confusion.sum(axis=1)
    accuracy = truth[0] / truth.sum()
    return accuracy, accuracy / np.count_nonzero(truth)


@pytest.mark.slow
def test_the_exercises_of_notebook_04_tell_right_from_wrong(voc, ade20k_32, capsys) -> None:
    plain = evaluate("deeplabv3-starter", voc, progress=False)
    pad = evaluate(Segmenter("deeplabv3-starter", resize="pad"), voc, progress=False)
    flip = evaluate("deeplabv3-starter", voc, tta="flip", progress=False)
    multiscale = evaluate("deeplabv3-starter", voc, tta="multiscale", progress=False)
    a, b = Segmenter("deeplabv3plus-mnv2-ade20k"), Segmenter("deeplabv3plus-mnv2-ade20k-int8")
    fractions = [
        disagreement(a.segment(ade20k_32.load(k)[0]), b.segment(ade20k_32.load(k)[0])).fraction for k in (1, 2)
    ]
    answers = {
        "04.all-background": (all_background, lambda conf: (conf[0, 0] / conf.sum(), conf[0, 0] / conf.sum())),
        "04.pad": (pad.miou, plain.miou),
        "04.worst-bottle": ("bicycle", "background"),
        "04.disagreement": (fractions, [0.113, 0.113]),
        "04.multiscale": (multiscale.miou - plain.miou, flip.miou - plain.miou),
    }
    assert set(answers) == {e.name for e in exercises("04")}
    for name, (right, wrong) in answers.items():
        assert check(name, right), capsys.readouterr().out
        assert not check(name, wrong), name
    assert 0.03 < plain.miou - pad.miou < 0.06  # padding costs the starter about four points
    assert multiscale.miou - plain.miou > flip.miou - plain.miou  # the off-scale starter gains more from scales
    assert [round(f, 2) for f in fractions] == [0.06, 0.03]


@pytest.mark.slow
def test_the_worst_images_lose_their_points_as_04_says(voc) -> None:
    best = evaluate("deeplabv3-mnv2-voc", voc, keep_predictions=True, progress=False)
    bike, chair, rider = best.worst(3)
    assert (bike.name, chair.name, rider.name) == (
        "vainf_val120_3597d9a",
        "icevision_2007_000063",
        "vainf_val582_d1182fc",
    )
    went = {(t, p): share for t, p, share in bike.metrics.top_confusions(3)}
    assert went[("bottle", "bicycle")] == 1.0 and 0.1 < went[("background", "bicycle")] < 0.15  # an eighth
    assert bike.metrics.class_iou()["bottle"] == 0.0
    went = {(t, p): share for t, p, share in chair.metrics.top_confusions(3)}
    assert 0.3 < went[("background", "chair")] < 0.4 and ("dog", "chair") in went


# ------------------------------------------------------------------------------------------ executed copies


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", ["01", "04"])
def test_the_executed_notebook_shows_every_exercise_unanswered_and_no_progress_bar(notebook, executed_notebook) -> None:
    cells = nbformat.read(executed_notebook(NOTEBOOKS[notebook]), as_version=4).cells
    streams = [o for cell in cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "stream"]
    said = [line for o in streams if o.name == "stdout" for line in o.text.splitlines()]
    for e in exercises(notebook):
        assert f"{e.name}: not answered yet" in said
    assert not [o.text for o in streams if o.name == "stderr" and "it/s]" in o.text]  # no leftover tqdm bars
    if notebook == "01":
        assert " stride 16, aligned cells: pixel accuracy 0.920" in said
