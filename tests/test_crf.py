"""DeepLab v1/v2's fully connected CRF, on real photos and the real models' probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets import OptionsError, Segmenter
from deeplab_widgets.analysis.concepts import boundary_distance
from deeplab_widgets.core.crf import CrfOptions, PermutohedralLattice, crf_size
from deeplab_widgets.workflows.evaluate import evaluate, predict


@pytest.mark.parametrize(("dims", "points", "width", "agreement"), [(2, 1500, 8.0, 0.995), (5, 3000, 3.0, 0.98)])
def test_lattice_filter_follows_the_exact_gaussian(dims, points, width, agreement) -> None:
    rng = np.random.default_rng(0)
    features = rng.uniform(0, width, (points, dims))
    values = rng.uniform(0, 1, (points, 2)).astype(np.float32)
    exact = np.exp(-((features[:, None] - features[None]) ** 2).sum(-1) / 2) @ values
    approx = PermutohedralLattice(features).filter(values)
    assert np.corrcoef(approx[:, 0], exact[:, 0])[0, 1] > agreement


def test_crf_moves_boundary_pixels_and_keeps_the_class_set(voc) -> None:
    seg = Segmenter("deeplabv3-starter")
    photo, truth = voc.load(0)
    plain = seg.segment(photo)
    refined = seg.segment(photo, refine="crf")
    changed = refined.labels != plain.labels
    assert 0.002 < changed.mean() < 0.2
    near = boundary_distance(plain.labels, max_distance=32) <= 16
    assert near[changed].mean() > 0.9  # the CRF moves edges; it does not repaint regions
    assert set(np.unique(refined.labels)) <= set(np.unique(plain.labels))
    assert [c.name for c in refined.present_classes()[:2]] == [c.name for c in plain.present_classes()[:2]]
    assert refined.scores is None and refined.timings.postprocess_ms > plain.timings.postprocess_ms
    valid = truth != 255
    assert np.mean((refined.labels == truth)[valid]) > np.mean((plain.labels == truth)[valid])


@pytest.mark.slow
def test_evaluate_with_the_crf_on_voc_pairs(voc) -> None:
    from dataclasses import replace

    seg = Segmenter("deeplabv3-mnv2-dm05-voc")
    pairs = replace(voc, items=voc.items[:3])
    plain = evaluate(seg, pairs, progress=False, warmup=False)
    refined = evaluate(seg, pairs, refine="crf", progress=False, warmup=False)
    assert refined.label == "deeplabv3-mnv2-dm05-voc (crf)" and refined.to_dict()["refine"] == "crf"
    assert abs(refined.pixel_accuracy - plain.pixel_accuracy) < 0.05
    assert refined.median_ms > plain.median_ms


def test_bad_crf_settings_are_refused(voc) -> None:
    seg = Segmenter("deeplabv3-starter")
    photo, _ = voc.load(1)
    with pytest.raises(OptionsError, match="unknown refine 'dense'; choose one of: None, crf"):
        seg.segment(photo, refine="dense")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="CRF iterations must be a whole number >= 1, not 0"):
        CrfOptions(iterations=0)
    with pytest.raises(OptionsError, match="use it without TTA"):
        predict(seg, photo, tta="flip", refine="crf")
    assert crf_size((1352, 900), 513) == (513, 341) and crf_size((400, 300), 513) == (400, 300)


@pytest.mark.slow
def test_cli_eval_with_crf_reports_the_refinement(voc, tmp_path, capsys) -> None:
    import json
    import shutil

    from deeplab_widgets.cli import main

    item = voc.items[2]
    for kind, path in (("images", item.image_path), ("masks", item.mask_path)):
        (tmp_path / kind).mkdir()
        shutil.copy(path, tmp_path / kind / path.name)
    argv = [
        "eval",
        "--images",
        str(tmp_path / "images"),
        "--masks",
        str(tmp_path / "masks"),
        "--json",
        "--threads",
        "1",
    ]
    assert main([*argv, "--crf"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["refine"] == "crf" and report["images"] == 1 and report["pixel_accuracy"] > 0.9
