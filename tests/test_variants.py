"""Scoring the same weights as variants (strides, sizes, pooling, CRF) on labelled VOC pairs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from deeplab_widgets import derive
from deeplab_widgets.core.runtime import RuntimeOptions
from deeplab_widgets.workflows.stride import bilinear_oracle_labels, oracle_bound, oracle_labels
from deeplab_widgets.workflows.variants import band_masks, bootstrap_difference, markdown_table, score_variants


def test_the_bilinear_oracle_beats_the_cell_constant_one_at_os16(voc) -> None:
    cell = {b.output_stride: b.miou for b in oracle_bound(voc, (8, 16, 32))}
    bilinear = {b.output_stride: b.miou for b in oracle_bound(voc, (8, 16, 32), upsample="bilinear")}
    assert round(bilinear[16], 3) == 0.985 and round(cell[16], 3) == 0.937
    assert all(bilinear[s] > cell[s] for s in (8, 16, 32))
    _, truth = voc.load(0)
    assert set(np.unique(bilinear_oracle_labels(truth, 16))) <= set(np.unique(truth)) - {255}
    assert np.mean(bilinear_oracle_labels(truth, 1) == oracle_labels(truth, 1)) == 1.0


def test_band_masks_split_the_distance_to_the_boundary() -> None:
    truth = np.zeros((20, 20), np.uint8)
    truth[:, 10:] = 1
    near, mid, far = band_masks(truth)
    assert near[:, 8:12].all() and not near[:, :8].any()  # columns 9 and 10 are edge pixels (distance 0)
    assert mid[:, 6:8].all() and mid[:, 12:14].all() and not (near & mid).any()
    assert far[:, 1:6].all() and not far[:, 0].any()


def test_os16_scores_close_to_os8_with_intervals(voc, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path))
    pairs = replace(voc, items=voc.items[:5])
    options = RuntimeOptions(num_threads=1)
    variants = {f"OS {s}": derive("deeplabv3-starter", output_stride=s).segmenter(options) for s in (8, 16)}
    os8, os16 = score_variants(variants, pairs, bootstrap_rounds=200)
    for s in (os8, os16):
        assert s.miou_interval[0] <= s.miou <= s.miou_interval[1] and s.images == 5
        assert s.band_accuracy[0] < s.band_accuracy[2] < s.pixel_accuracy + 0.05  # errors sit at boundaries
    diff, lo, hi = bootstrap_difference(os16, os8, rounds=200)
    assert lo <= diff <= hi and abs(diff) < 0.1
    from deeplab_widgets.viz.stride import plot_same_weights

    fig = plot_same_weights(
        [os8, os16], {"OS 8": 8, "OS 16": 16}, {"OS 8": 257, "OS 16": 257}, {"OS 8": 7.3e8, "OS 16": 2.3e8}
    )
    _, middle, right = fig.axes
    assert len(middle.lines) == 2 and [t.get_text() for t in right.texts] == ["0.73 GMACs", "0.23 GMACs"]
    table = markdown_table([os8, os16], {"GMACs": {"OS 8": "0.73"}})
    assert table.splitlines()[0].startswith("| variant | mIoU | 95% interval | pixel acc. | acc. 0-1 px |")
    assert table.splitlines()[2].endswith("| 0.73 |")


def test_reduce_detail_keeps_the_size_and_drops_what_a_smaller_input_loses(voc) -> None:
    from deeplab_widgets import OptionsError
    from deeplab_widgets.workflows.variants import reduce_detail

    photo, _ = voc.load("vainf_val0_d1182fc")
    blurred = reduce_detail(photo, 257)
    assert blurred.size == photo.size == (513, 513)

    def roughness(image) -> float:  # mean absolute difference of horizontal neighbours
        return float(np.abs(np.diff(np.asarray(image, float), axis=1)).mean())

    assert roughness(blurred) < 0.75 * roughness(photo)
    assert np.abs(np.asarray(reduce_detail(photo, 513), float) - np.asarray(photo, float)).max() == 0
    with pytest.raises(OptionsError, match="^size must be at least 2, not 1$"):
        reduce_detail(photo, 1)
