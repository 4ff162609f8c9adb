"""The output stride's oracle bound on the real VOC ground truth, and interleaved timing of real models."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets import OptionsError, RuntimeOptions, sample_path
from deeplab_widgets.workflows.bench import LatencyStats
from deeplab_widgets.workflows.interleaved import InterleavedTiming, invoke_task, time_interleaved
from deeplab_widgets.workflows.stride import boundary_band, grid_size, oracle_bound, oracle_labels


def test_grid_sizes_match_deeplabs_feature_maps():
    assert grid_size(513, 16) == 33 and grid_size(513, 8) == 65 and grid_size(257, 8) == 33
    assert grid_size(512, 4) == 129
    with pytest.raises(OptionsError, match="whole number"):
        grid_size(513, 0)


def test_oracle_at_stride_one_is_the_ground_truth_and_blocks_at_coarser_strides(voc):
    _, truth = voc.load(0)
    labelled = truth != 255
    assert np.array_equal(oracle_labels(truth, 1)[labelled], truth[labelled])
    coarse = oracle_labels(truth, 16)
    assert coarse.shape == truth.shape and 255 not in coarse
    # every 16 x 16 cell centred on a grid point holds one class
    assert len(np.unique(coarse[24:40, 24:40])) == 1


def test_oracle_bound_falls_with_the_output_stride_on_voc(voc):
    bounds = {b.output_stride: b for b in oracle_bound(voc)}
    assert list(bounds) == [4, 8, 16, 32]
    mious = [bounds[s].miou for s in (4, 8, 16, 32)]
    assert mious == sorted(mious, reverse=True)
    assert bounds[4].miou > 0.99  # VOC's 5-px void outline hides stride-4 block edges
    assert 0.85 < bounds[16].miou < 0.97 and bounds[32].miou < 0.9
    assert all(b.boundary_accuracy < b.pixel_accuracy for b in bounds.values())
    assert bounds[16].grid == (33, 33)


def test_boundary_band_by_hand():
    labels = np.zeros((9, 9), np.uint8)
    labels[:, 5:] = 1
    assert boundary_band(labels, 1)[0].tolist() == [False, False, False, True, True, True, True, False, False]


def _timing(a: list[float], b: list[float]) -> InterleavedTiming:
    return InterleavedTiming(
        ("a", "b"),
        (tuple(a), tuple(b)),
        (LatencyStats.from_samples(a), LatencyStats.from_samples(b)),
        len(a),
        (0.5, 0.5, 0.5),
        (0.6, 0.5, 0.5),
        2,
    )


def test_verdict_calls_rounds_that_disagree_noise():
    apart = _timing([10, 11, 10, 12, 11], [20, 21, 22, 20, 21])
    assert apart.distinct("a", "b")
    assert apart.verdict("a", "b") == "a is 1.91x as fast as b (per-round ratio 1.72-2.16, 5-95%)"
    close = _timing([10, 14, 11, 13, 12], [11, 13, 12, 12, 13])
    assert not close.distinct("a", "b") and "the rounds disagree" in close.verdict("a", "b")
    assert "within the noise" in close.verdict("a", "b")
    assert not apart.busy and "quiet enough" in apart.table()
    with pytest.raises(OptionsError, match="no task named 'c'"):
        apart.round_ratios("a", "c")


def test_a_burst_of_load_that_widens_both_spreads_does_not_hide_a_steady_ratio():
    """Each round runs both tasks under the same load: a 3.5x ratio in every round is a difference."""
    bursty = _timing([10, 10, 10, 10, 60, 10], [35, 35, 35, 35, 210, 35])
    a, b = bursty.stat("a"), bursty.stat("b")
    assert a.p95_ms > b.p5_ms  # the spreads overlap
    assert bursty.distinct("a", "b") and bursty.verdict("b", "a").startswith("a is 3.50x as fast as b")


def test_interleaved_timing_runs_real_interpreters_round_robin():
    one = RuntimeOptions(num_threads=1)
    tasks = {
        "starter": invoke_task("deeplabv3-starter", one, image=sample_path("cat")),
        "dm0.5": invoke_task("deeplabv3-mnv2-dm05-voc", one, image=sample_path("cat")),
    }
    timing = time_interleaved(tasks, rounds=3, warmup=0)
    assert timing.names == ("starter", "dm0.5")
    assert [len(s) for s in timing.samples_ms] == [3, 3] and all(t > 0 for s in timing.samples_ms for t in s)
    assert timing.stat("dm0.5").count == 3
    with pytest.raises(OptionsError, match="rounds >= 3"):
        time_interleaved(tasks, rounds=2)
    with pytest.raises(OptionsError, match="nothing to time"):
        time_interleaved({})
