"""Deriving models from the real zoo graphs: other output strides, input sizes, no image pooling."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets import DeriveError, OptionsError, Segmenter, derive, load_sample, read_graph
from deeplab_widgets.analysis.cost import compute_cost
from deeplab_widgets.analysis.derive import reachable_strides, save
from deeplab_widgets.cli import main
from deeplab_widgets.core.runtime import RuntimeOptions
from deeplab_widgets.tflite import schema

PHOTOS = ("cat", "bird", "pets")
OPTIONS = RuntimeOptions(num_threads=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test derives into its own cache folder."""
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def photos():
    return {name: load_sample(name) for name in PHOTOS}


@pytest.fixture(scope="module")
def starter_labels(photos):
    seg = Segmenter("deeplabv3-starter", OPTIONS)
    return {name: seg.segment(photo).labels for name, photo in photos.items()}


@pytest.mark.parametrize(("stride", "feature", "agreement"), [(16, 17, 0.95), (32, 9, 0.85)])
def test_starter_at_another_output_stride_agrees_with_os8_on_photos(
    photos, starter_labels, stride, feature, agreement
) -> None:
    derived = derive("deeplabv3-starter", output_stride=stride, cache=False)
    assert derived.output_stride == stride and derived.feature_size == (feature, feature)
    summary = read_graph(derived.content).summary
    assert summary.output_stride == stride and summary.feature_size == (feature, feature)
    seg = derived.segmenter(OPTIONS)
    for name, photo in photos.items():
        result = seg.segment(photo)
        assert np.mean(result.labels == starter_labels[name]) > agreement, name
        assert {c.name for c in result.present_classes()} == {"background", {"pets": "dog"}.get(name, name)}
    assert compute_cost(derived.content).total_macs < 0.4 * compute_cost("deeplabv3-starter").total_macs


def test_os16_edits_the_blocks_the_graph_roles_name() -> None:
    graph = read_graph("deeplabv3-starter")
    derived = derive("deeplabv3-starter", output_stride=16, cache=False)
    strided = graph.layer(22)
    assert strided.block == "MobilenetV2/expanded_conv_6/depthwise" and strided.stride == (1, 1)
    first = derived.edits[0]
    assert (
        first.startswith("layer 22 DEPTHWISE_CONV_2D (MobilenetV2/expanded_conv_6/depthwise")
        and "stride 1 -> 2" in first
    )
    assert any("rate 4 -> 2" in e for e in derived.edits)
    assert "op AVERAGE_POOL_2D (AvgPool2D/AvgPool): image-pooling window 33x33 -> 17x17" in derived.edits
    after = read_graph(derived.content)
    assert after.layer(22).stride == (2, 2) and after.summary.atrous_rates == (2,)


def test_a_larger_input_updates_the_pooling_window_and_resize_sizes(photos, starter_labels) -> None:
    derived = derive("deeplabv3-starter", input_size=321, cache=False)
    graph = read_graph(derived.content)
    s = graph.summary
    assert s.input_size == (321, 321) and s.feature_size == (41, 41) and s.output_stride == 8
    assert graph.layers[s.image_pooling.pool].kernel == (41, 41)
    assert s.output_shape == (1, 321, 321, 21)
    result = derived.segmenter(OPTIONS).segment(photos["cat"])
    assert np.mean(result.labels == starter_labels["cat"]) > 0.9


def test_without_image_pooling_the_branch_is_gone_and_the_model_still_segments(photos) -> None:
    derived = derive("deeplabv3-starter", image_pooling=False, cache=False)
    assert not derived.image_pooling
    graph = read_graph(derived.content)
    assert graph.summary.image_pooling is None
    assert "AVERAGE_POOL_2D" not in {ly.op for ly in graph.layers}
    result = derived.segmenter(OPTIONS).segment(photos["cat"])
    assert result.present_classes()[0].name == "background"
    assert "cat" in {c.name for c in result.present_classes()}


def test_voc_mobilenet_runs_at_os8_by_the_reverse_edit(photos) -> None:
    base = Segmenter("deeplabv3-mnv2-dm05-voc", OPTIONS).segment(photos["bird"]).labels
    derived = derive("deeplabv3-mnv2-dm05-voc", output_stride=8, cache=False)
    assert derived.feature_size == (65, 65) and derived.resize == "pad"
    assert derived.edits[0].startswith("layer 22 DEPTHWISE_CONV_2D") and "stride 2 -> 1" in derived.edits[0]
    result = derived.segmenter(OPTIONS).segment(photos["bird"])
    assert np.mean(result.labels == base) > 0.95
    assert result.present_classes()[0].name == "background" and "bird" in result.class_names


def test_v3plus_decoder_follows_a_new_output_stride() -> None:
    derived = derive("deeplabv3plus-mnv2-ade20k-int8", output_stride=8, cache=False)
    s = read_graph(derived.content).summary
    assert s.feature_size == (64, 64) and s.decoder is not None and s.decoder.logits_stride == 4
    assert reachable_strides("deeplabv3plus-mnv2-ade20k-int8") == (8, 16, 32)


def test_derived_file_runs_from_disk_with_its_class_names(tmp_path, photos) -> None:
    derived = derive("deeplabv3-mnv2-dm05-voc", output_stride=32, cache=False)
    path = save(derived, tmp_path / "os32.tflite")
    seg = Segmenter.from_file(path)
    assert seg.spec.labels.name == "pascal_voc" and seg.class_names[3] == "bird"
    assert "bird" in {c.name for c in seg.segment(photos["bird"]).present_classes()}


def test_derivations_are_cached_by_source_and_parameters(tmp_path) -> None:
    first = derive("deeplabv3-starter", output_stride=16)
    assert first.path is not None and first.path.is_relative_to(tmp_path / "cache" / "derived")
    stamp = first.path.stat().st_mtime_ns
    again = derive("deeplabv3-starter", output_stride=16)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert again.content == first.content and again.edits == first.edits
    assert derive("deeplabv3-starter", output_stride=16, cache=False).content == first.content  # deterministic
    other = derive("deeplabv3-starter", output_stride=32)
    assert other.path != first.path
    first.path.write_bytes(b"damaged")
    repaired = derive("deeplabv3-starter", output_stride=16)
    assert repaired.content == first.content
    assert not list(first.path.parent.glob(".*.part"))


def test_bad_parameters_and_graphs_that_do_not_fit_are_refused() -> None:
    with pytest.raises(OptionsError, match="output stride must be one of 8, 16, 32, not 4"):
        derive("deeplabv3-starter", output_stride=4)
    with pytest.raises(OptionsError, match="input size must be a whole number of pixels from 65 to 1025, not 20"):
        derive("deeplabv3-starter", input_size=20)
    no_pool = derive("deeplabv3-starter", image_pooling=False, cache=False).content
    with pytest.raises(DeriveError, match="the graph has no image-pooling branch to remove"):
        derive(no_pool, image_pooling=False)


def test_a_graph_whose_rates_break_the_rule_is_refused_naming_the_layer() -> None:
    content = derive("deeplabv3-starter", cache=False).content
    model = schema.read_model(content)
    opt = model.subgraphs[0].operators[29].builtinOptions  # expanded_conv_8's depthwise: rate 2 -> 3
    opt.dilationHFactor = opt.dilationWFactor = 3
    broken = schema.write_model(model)
    with pytest.raises(DeriveError, match=r"layer 29 DEPTHWISE_CONV_2D \(MobilenetV2/expanded_conv_8/depthwise"):
        derive(broken, output_stride=16)


def test_cli_derive_writes_a_model_and_reports_one_line_errors(tmp_path, capsys) -> None:
    out = tmp_path / "os16.tflite"
    assert main(["derive", "deeplabv3-starter", "--output-stride", "16", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{out}: deeplabv3-starter OS 16 257px, encoder map 17x17")
    assert Segmenter(str(out)).spec.input_size == (257, 257)
    bad = tmp_path / "bad.tflite"
    assert main(["derive", str(out), "--input-size", "20", "--out", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == "deeplab-widgets: error: input size must be a whole number of pixels from 65 to 1025, not 20\n"
    assert not bad.exists()


def test_a_derived_file_runs_in_batch_and_video(tmp_path) -> None:
    from deeplab_widgets import sample_path, segment_many, segment_video

    path = save(derive("deeplabv3-starter", output_stride=16, cache=False), tmp_path / "os16.tflite")
    records = list(segment_many([sample_path("cat"), sample_path("bird")], str(path), tmp_path / "out", progress=False))
    assert [r.ok for r in records] == [True, True]
    assert [r.classes[1].name for r in records] == ["cat", "bird"]
    frames = list(segment_video("cockatoo", str(path), limit=3, progress=False))
    assert [f.index for f in frames] == [0, 1, 2] and frames[0].labels.shape == (257, 257)
    assert frames[0].segmentation.class_names[3] == "bird"


def test_a_derived_file_is_evaluated_on_voc_like_its_source(tmp_path, voc) -> None:
    from dataclasses import replace

    from deeplab_widgets import evaluate

    pairs = replace(voc, items=voc.items[:3])
    path = save(derive("deeplabv3-starter", output_stride=16, cache=False), tmp_path / "os16.tflite")
    derived = evaluate(Segmenter.from_file(path), pairs, progress=False)
    source = evaluate(Segmenter("deeplabv3-starter"), pairs, progress=False)
    assert derived.model == "os16.tflite" and not derived.mapped
    assert abs(derived.miou - source.miou) < 0.05
