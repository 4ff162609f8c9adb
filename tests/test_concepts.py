"""The teaching toolkit: numeric identities, hand-checkable numbers and the real models' data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import OptionsError
from deeplab_widgets.analysis import concepts as c
from deeplab_widgets.analysis.deeplab import read_graph
from deeplab_widgets.analysis.intermediates import Probe
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.assets.zoo import model_names


@pytest.mark.parametrize("rate", [1, 2, 3, 5])
def test_atrous_convolution_equals_convolution_with_a_zero_inserted_kernel(rate):
    rng = np.random.default_rng(rate)
    x1, w1 = rng.normal(size=40), rng.normal(size=3)
    assert np.allclose(c.atrous_conv(x1, w1, rate), c.conv(x1, c.zero_insert(w1, rate)))
    x2, w2 = rng.normal(size=(30, 27)), rng.normal(size=(3, 3))
    assert np.allclose(c.atrous_conv(x2, w2, rate), c.conv(x2, c.zero_insert(w2, rate)))
    assert c.atrous_conv(x2, w2, rate).shape == (30 - 2 * rate, 27 - 2 * rate)


def test_atrous_convolution_by_hand():
    x = np.arange(10.0)
    assert c.zero_insert(np.array([1, 2, 3]), 2).tolist() == [1, 0, 2, 0, 3]
    out = c.atrous_conv(x, np.array([1.0, 2.0, 3.0]), 2)
    assert out[0] == 1 * 0 + 2 * 2 + 3 * 4 and len(out) == 6
    assert c.effective_kernel_size(3, 6) == 13
    assert c.tap_offsets(3, 2).tolist() == [-2, 0, 2]
    with pytest.raises(OptionsError, match="atrous rate must be a whole number >= 1, not 0"):
        c.atrous_conv(x, np.ones(3), 0)
    with pytest.raises(OptionsError, match="spans"):
        c.atrous_conv(x, np.ones(3), 5)


def test_receptive_field_of_small_stacks():
    plain = c.receptive_field([c.ConvSpec(3)] * 3)
    assert [s.receptive_field for s in plain] == [3, 5, 7]
    dilated = c.receptive_field([c.ConvSpec(3, rate=r) for r in (1, 2, 4)])
    assert [s.receptive_field for s in dilated] == [3, 7, 15]
    strided = c.receptive_field([c.ConvSpec(3, stride=2), c.ConvSpec(3), c.ConvSpec(3, stride=2), c.ConvSpec(3)])
    assert [s.receptive_field for s in strided] == [3, 7, 11, 19]
    assert [s.jump for s in strided] == [2, 2, 4, 4]


def test_gridding_effect():
    grid = c.gridding_map((2, 2, 2))
    assert grid.shape == (13, 13) and grid.sum() == 27**2
    assert not grid[1::2].any() and not grid[:, 1::2].any()  # odd offsets never reach the output
    assert c.coverage((2, 2, 2)) < 0.3
    assert c.coverage((1, 2, 5)) == 1.0


def test_valid_taps_degenerate_at_large_rates():
    assert c.valid_taps(65, 1).center_only == 0.0
    assert c.valid_taps(65, 64).center_only > 0.9
    fractions = [c.valid_taps(65, r).mean_fraction for r in (1, 6, 12, 18, 24, 48)]
    assert fractions == sorted(fractions, reverse=True)


def test_aspp_sampling_combines_branches():
    grid = c.aspp_sampling((1, 2))
    assert grid.shape == (5, 5)
    assert grid[2, 2] == 2 and grid[0, 0] == 2 and grid[1, 1] == 1 and grid[0, 1] == 0
    assert np.count_nonzero(grid) == 17  # 9 + 9 taps sharing the centre


@pytest.fixture(scope="module")
def starter_bird():
    return Probe("deeplabv3-starter").run(sample_path("bird_segmentation"))


def test_image_level_feature_matches_the_models_average_pool(starter_bird):
    enc = starter_bird.encoder_features()
    feature = c.image_level_feature(enc)
    assert feature.shape == enc.shape
    pooled = starter_bird.layer_output(starter_bird.graph.summary.image_pooling.pool)
    assert np.allclose(feature[0, 0], pooled[0, 0], atol=1e-4)
    assert np.allclose(feature[10, 20], pooled[0, 0], atol=1e-4)


@pytest.mark.parametrize("name", model_names())
def test_output_stride_costs_reproduce_the_real_model_at_its_own_stride(name):
    g = read_graph(name)
    costs = {sc.output_stride: sc for sc in c.output_stride_costs(g)}
    own = costs[g.summary.output_stride]
    assert own.macs == g.summary.total_macs
    assert own.feature_size == g.summary.feature_size
    macs = [costs[s].macs for s in (8, 16, 32)]
    assert macs == sorted(macs, reverse=True)


def test_output_stride_feature_sizes():
    starter = {sc.output_stride: sc.feature_size for sc in c.output_stride_costs(read_graph("deeplabv3-starter"))}
    assert starter == {8: (33, 33), 16: (17, 17), 32: (9, 9)}
    coral = {sc.output_stride: sc.feature_size for sc in c.output_stride_costs(read_graph("deeplabv3-mnv2-voc"))}
    assert coral == {8: (65, 65), 16: (33, 33), 32: (17, 17)}


def test_bilinear_upsampling_by_hand():
    x = np.array([[0.0, 2.0], [4.0, 6.0]])
    up = c.upsample_bilinear(x, (3, 3))
    assert up.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert c.upsample_nearest(np.array([[1, 2], [3, 4]]), (4, 4)).tolist()[1] == [1, 1, 2, 2]


def test_coarse_logit_errors_concentrate_at_reference_boundaries():
    acts = Probe("deeplabv3-mnv2-voc").run(sample_path("bird_segmentation"))
    ref = np.asarray(Image.open(sample_path("bird_segmentation_mask")))
    coarse = acts.coarse_logits()
    bilinear = c.upsample_bilinear(coarse, ref.shape).argmax(axis=-1)
    nearest = c.upsample_nearest(coarse.argmax(axis=-1), ref.shape)
    bands = c.boundary_errors(bilinear, ref)
    assert sum(b.pixels for b in bands) == ref.size
    assert bands[0].error > 0.2  # within 2 px of an edge
    assert bands[-1].error < 0.01  # 16 px or more inside a region
    assert [b.error for b in bands] == sorted(b.error for b in bands)[::-1]
    assert np.mean(bilinear == ref) > np.mean(nearest == ref)
    assert np.mean(bilinear == ref) >= 0.97


def test_boundary_distance_by_hand():
    labels = np.zeros((7, 7), np.uint8)
    labels[:, 4:] = 1
    d = c.boundary_distance(labels)
    assert d[0].tolist() == [3, 2, 1, 0, 0, 1, 2]
    with pytest.raises(OptionsError, match="differ in size"):
        c.boundary_errors(labels, labels[:3])


def test_output_stride_follows_deeplabs_aligned_corner_convention():
    assert c.output_stride(257, 33) == 8.0
    assert c.output_stride(513, 33) == 16.0
    assert c.output_stride(513, 65) == 8.0
    with pytest.raises(OptionsError, match="at least 2 cells"):
        c.output_stride(257, 1)


def test_bird_mask_outline_labels_become_void_and_error_shares_add_up():
    ref = np.asarray(Image.open(sample_path("bird_segmentation_mask")))
    clean = c.void_except(ref, keep=(0, 3))
    stray = int(np.isin(ref, (1, 2)).sum())
    assert 1000 < stray < 1500  # the aeroplane/bicycle outline left by resizing
    assert int((clean == 255).sum()) == stray and set(np.unique(clean)) == {0, 3, 255}
    acts = Probe("deeplabv3-mnv2-voc").run(sample_path("bird_segmentation"))
    bilinear = c.upsample_bilinear(acts.coarse_logits(), ref.shape).argmax(axis=-1)
    bands = c.boundary_errors(bilinear, clean)
    assert sum(b.pixels for b in bands) == ref.size - stray  # void pixels are not counted
    assert sum(b.errors for b in bands) == int(((bilinear != clean) & (clean != 255)).sum())
    assert abs(sum(b.share for b in bands) - 1.0) < 1e-9
    assert bands[0].share + bands[1].share > 0.5  # most errors lie within 4 px of the bird's outline
    assert bands[0].label() == "0-1 px" and bands[-1].label() == ">=16 px"


def test_macs_by_role_add_up_to_the_graph_total_and_only_v3plus_has_a_decoder(shared):
    for name in ("deeplabv3-starter", "deeplabv3-mnv2-voc"):
        graph = read_graph(name)
        roles = c.macs_by_role(graph)
        assert sum(roles.values()) == graph.summary.total_macs
        assert "decoder" not in roles and roles["backbone"] + roles["atrous"] > roles["aspp"]
    v3plus = read_graph(shared / "models" / "deeplabv3_mnv2_ade20k_int8.tflite")
    roles = c.macs_by_role(v3plus)
    assert 0.4 < roles["decoder"] / v3plus.summary.total_macs < 0.6  # the stride-4 decoder: about half the compute


def test_a_rate_counts_cells_of_the_feature_map_so_its_extent_grows_with_the_output_stride():
    assert c.input_extent(3, 6) == c.effective_kernel_size(3, 6) == 13
    assert c.input_extent(3, 6, 16) == 193  # of a 513 px input: more than a third of it
    assert c.input_extent(3, 1, 8) == 17
    with pytest.raises(OptionsError, match="output stride must be a whole number >= 1, not 0"):
        c.input_extent(3, 6, 0)


def test_aligned_indices_end_on_the_last_cell_and_every_4th_cell_does_not():
    idx = c.aligned_indices(128, 32)
    assert idx[0] == 0 and idx[-1] == 127 and len(idx) == 32
    assert np.arange(0, 128, 4)[-1] == 124  # [::4] stops 3 cells short
    assert np.abs(idx - np.arange(32) * 127 / 31).max() <= 0.5
    assert c.aligned_indices(33, 17).tolist() == list(range(0, 33, 2))  # k * stride + 1 grids nest exactly
    x = np.arange(128 * 128).reshape(128, 128)
    assert c.subsample_aligned(x, (32, 32)).shape == (32, 32) and c.subsample_aligned(x, (32, 32))[-1, -1] == x[-1, -1]
    with pytest.raises(OptionsError, match="a coarse grid needs 2..128 cells, not 1"):
        c.aligned_indices(128, 1)


def test_void_band_width_by_hand():
    mask = np.zeros((20, 20), np.uint8)
    mask[:, 8:13] = 255  # a vertical band 5 px wide
    assert c.void_band_width(mask) == 5.0
    mask[:, 8:13], mask[3:10, 3:10] = 0, 255  # a 7x7 square
    assert c.void_band_width(mask) == 7.0
    with pytest.raises(OptionsError, match=r"the mask has no void \(255\) pixel"):
        c.void_band_width(np.zeros((4, 4), np.uint8))


def test_every_atrous_layer_of_the_zoos_mobile_models_is_an_atrous_separable_convolution():
    v3plus = c.separable_convolutions(read_graph("deeplabv3plus-mnv2-ade20k-int8"))
    assert [(d.index, d.rate, d.role, p.index) for d, p in v3plus] == [
        (52, 2, "atrous", 53),
        (56, 2, "atrous", 57),
        (60, 2, "atrous", 61),
        (73, 1, "decoder", 74),
        (75, 1, "decoder", 76),
    ]
    starter = read_graph("deeplabv3-starter")
    atrous = [ly for ly in starter.layers if ly.rate > 1]
    assert [d for d, _ in c.separable_convolutions(starter)] == atrous and len(atrous) == 10
    assert all(p.kernel == (1, 1) and p.op == "CONV_2D" for _, p in c.separable_convolutions(starter))
