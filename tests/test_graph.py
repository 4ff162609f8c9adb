"""The layer table and DeepLab summary parsed from the real zoo models' .tflite graphs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import deeplab_widgets
from deeplab_widgets import ModelFormatError, ModelNotFoundError
from deeplab_widgets.analysis.deeplab import ROLES, SUMMARY_COLUMNS, describe_decoder, read_graph, summary_row
from deeplab_widgets.assets.zoo import model_names
from deeplab_widgets.core.model import load_model
from deeplab_widgets.core.runtime import RuntimeOptions, make_interpreter

PASCAL_MOBILENETV2 = ["deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc"]


@pytest.fixture(scope="module")
def graphs():
    return {name: read_graph(name) for name in model_names()}


def test_starter_output_stride_8_with_dilated_depthwise_convs_at_33x33(graphs):
    g = graphs["deeplabv3-starter"]
    s = g.summary
    assert s.input_size == (257, 257)
    assert s.feature_size == (33, 33)
    assert s.output_stride == 8
    assert math.ceil(257 / s.output_stride) == 33
    assert s.atrous_rates == (2, 4)
    dilated = [ly for ly in g.layers if ly.rate > 1]
    assert dilated, "the starter model has atrous convolutions"
    assert {ly.op for ly in dilated} == {"DEPTHWISE_CONV_2D"}
    assert {ly.spatial for ly in dilated} == {(33, 33)}
    assert {ly.kernel for ly in dilated} == {(3, 3)}
    first = g.layers[s.atrous_start]
    assert first.block == "MobilenetV2/expanded_conv_7/depthwise" and first.rate == 2
    rate4 = next(ly for ly in g.layers if ly.rate == 4)
    assert rate4.block == "MobilenetV2/expanded_conv_14/depthwise"
    assert [ly.rate for ly in dilated] == [2] * 7 + [4] * 3
    # strides: three stride-2 layers take 257 -> 129 -> 65 -> 33
    strided = [ly for ly in g.layers if ly.stride == (2, 2)]
    assert [ly.spatial for ly in strided] == [(129, 129), (65, 65), (33, 33)]


@pytest.mark.parametrize("name", ["deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc"])
def test_coral_mobilenetv2_models_run_at_output_stride_16(graphs, name):
    g = graphs[name]
    s = g.summary
    assert (s.input_size, s.feature_size, s.output_stride) == ((513, 513), (33, 33), 16)
    assert s.atrous_rates == (2,)
    assert g.layers[s.atrous_start].block == "MobilenetV2/expanded_conv_14/depthwise"
    assert s.argmax_layer == len(g.layers) - 1 and g.layers[s.argmax_layer].op == "ARG_MAX"


def test_edgetpu_model_uses_5x5_atrous_depthwise_convs(graphs):
    g = graphs["deeplab-edgetpu-slim-cityscapes"]
    s = g.summary
    assert s.backbone == "MobilenetEdgeTPU"
    assert (s.output_stride, s.atrous_rates) == (16, (2,))
    first = g.layers[s.atrous_start]
    assert first.block == "MobilenetEdgeTPU/expanded_conv_18/depthwise" and first.kernel == (5, 5)
    assert s.logits_shape == (1, 33, 33, 19)


def _independent_macs(name: str) -> tuple[int, int]:
    """MACs and parameters recounted from the interpreter's own op and tensor details."""
    spec = load_model(name)
    interpreter = make_interpreter(spec.content, RuntimeOptions(num_threads=1))
    shapes = {d["index"]: tuple(int(x) for x in d["shape"]) for d in interpreter.get_tensor_details()}
    macs = params = 0
    for op in interpreter._get_ops_details():
        kind, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        _, oh, ow, oc = shapes[outs[0]]
        cin = shapes[ins[0]][3]
        kh, kw = shapes[ins[1]][1], shapes[ins[1]][2]
        per_output = kh * kw * (1 if kind == "DEPTHWISE_CONV_2D" else cin)
        macs += oh * ow * oc * per_output
        params += oc * per_output + (oc if len(ins) > 2 and ins[2] >= 0 else 0)
    return macs, params


@pytest.mark.parametrize("name", model_names())
def test_mac_and_parameter_totals_match_an_independent_count(graphs, name):
    macs, params = _independent_macs(name)
    s = graphs[name].summary
    assert abs(s.total_macs - macs) <= 0.01 * macs
    assert s.total_params == params
    assert s.total_macs == sum(ly.macs for ly in graphs[name].layers)


@pytest.mark.parametrize(
    "name, gmacs", [("deeplabv3-starter", 0.73), ("deeplabv3-mnv2-dm05-voc", 0.87), ("deeplabv3-mnv2-voc", 2.74)]
)
def test_mac_totals_match_the_published_figures(graphs, name, gmacs):
    assert graphs[name].summary.total_macs / 1e9 == pytest.approx(gmacs, rel=0.01)


@pytest.mark.parametrize("name", model_names())
def test_image_pooling_branch_found_in_every_zoo_model(graphs, name):
    g = graphs[name]
    s = g.summary
    pool = s.image_pooling
    assert pool is not None
    p = g.layers[pool.pool]
    assert p.op == "AVERAGE_POOL_2D"
    assert p.input_shapes[0][1:3] == s.feature_size and p.spatial == (1, 1)
    assert p.kernel == s.feature_size  # pooled over the whole feature map
    assert p.inputs[0] == g.layers[s.encoder_layer].outputs[0]
    conv = g.layers[pool.conv]
    assert conv.op == "CONV_2D" and conv.kernel == (1, 1) and conv.spatial == (1, 1)
    up = g.layers[pool.upsample]
    assert up.op == ("TILE" if name.startswith("deeplab-edgetpu") else "RESIZE_BILINEAR")
    assert up.spatial == s.feature_size
    assert g.layers[pool.concat].op == "CONCATENATION" and pool.concat == s.aspp_concat
    assert [b.label() for b in s.aspp_branches] == ["image pooling", "1x1 conv"]
    assert s.aspp_rates == ()  # the mobile configurations drop the atrous ASPP branches


@pytest.mark.parametrize("name", PASCAL_MOBILENETV2)
def test_decoder_reported_absent_for_the_mobilenetv2_pascal_models(graphs, name):
    s = graphs[name].summary
    assert s.decoder is None and not s.has_decoder
    assert not graphs[name].by_role("decoder")
    # the logits leave the head at the encoder's resolution and are only resized afterwards
    assert s.logits_shape[1:3] == s.feature_size


def test_receptive_field_follows_the_recursion(graphs):
    g = graphs["deeplabv3-starter"]
    assert [ly.receptive_field for ly in g.layers[:2]] == [3, 7]  # 3x3/2, then 3x3 at jump 2
    first = g.layers[g.summary.atrous_start]
    before = g.producer(first.inputs[0])
    assert first.jump == 8 and first.receptive_field - before.receptive_field == 2 * (3 - 1) * 8
    for ly in g.layers:
        assert ly.receptive_field >= 1


def test_roles_follow_the_deeplab_order(graphs):
    for g in graphs.values():
        if g.summary.has_decoder:  # the v3+ graphs compute the decoder's low-level projection before the ASPP
            continue
        order = [ROLES.index(ly.role) for ly in g.layers if ly.role != "other"]
        assert order == sorted(order)
        assert {ly.role for ly in g.layers} >= {"backbone", "atrous", "aspp", "logits"}
        assert g.layers[g.summary.logits_layer].role == "logits"


def test_layers_by_name_and_index(graphs):
    g = graphs["deeplabv3-starter"]
    ly = g.layer("MobilenetV2/expanded_conv_7/depthwise/Relu6")
    assert ly.index == 25 and ly.rate == 2 and ly.output_shape == (1, 33, 33, 192)
    assert g.layer(25) == ly
    assert "rate 2" in ly.describe()
    with pytest.raises(KeyError, match="no layer 999"):
        g.layer(999)
    with pytest.raises(KeyError, match="layers match 'expanded_conv'"):
        g.layer("expanded_conv")
    table = g.format_table()
    assert len(table.splitlines()) == len(g.layers) + 1


def test_one_operator_cut_out_of_the_starter_computes_what_it_computes_inside_the_model():
    import numpy as np

    from deeplab_widgets import sample_path
    from deeplab_widgets.core.images import load_image
    from deeplab_widgets.core.preprocess import fit
    from deeplab_widgets.tflite.schema import operator_model

    spec = load_model("deeplabv3-starter")
    layer = read_graph(spec).layer("MobilenetV2/expanded_conv_7/depthwise/Relu6")  # 3x3, rate 2
    pixels, _ = fit(load_image(sample_path("cat")), spec.input_size, "stretch")
    builtin = RuntimeOptions(num_threads=1, xnnpack=False)  # the same kernels on both sides
    whole = make_interpreter(spec.content, builtin, preserve_all_tensors=True)
    spec.feed(whole, pixels)
    whole.invoke()
    op = whole._get_ops_details()[layer.index]
    one = make_interpreter(operator_model(spec.content, layer.index), builtin)
    one.set_tensor(one.get_input_details()[0]["index"], whole.get_tensor(int(op["inputs"][0])))
    one.invoke()
    expected = whole.get_tensor(int(op["outputs"][0]))
    assert one.get_output_details()[0]["shape"].tolist() == [1, 33, 33, 192]
    assert expected.std() > 0.1 and np.array_equal(one.get_tensor(one.get_output_details()[0]["index"]), expected)
    with pytest.raises(ModelFormatError, match=r"^model: no operator 70 \(the graph has 70\)$"):
        operator_model(spec.content, 70)


def test_bad_models_raise_named_errors():
    good = load_model("deeplabv3-mnv2-dm05-voc").content
    with pytest.raises(ModelFormatError, match="graph could not be read"):
        read_graph(good[:5000])
    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        read_graph(b"this is not a model at all")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        read_graph("missing/model.tflite")


@pytest.mark.parametrize("name", [n for n in model_names() if n.startswith("deeplabv3")])
def test_the_zoo_states_each_mobilenetv2_depth_its_weights_have(graphs, name):
    from deeplab_widgets.assets.zoo import model_info

    first = next(ly for ly in graphs[name].layers if ly.op == "CONV_2D")
    depth = re.fullmatch(r"MobileNetV2 \(depth ([0-9.]+)\)", model_info(name).backbone)
    assert depth and first.output_shape[-1] == 32 * float(depth.group(1))  # MobileNetV2's first layer: 32 x depth


def test_starter_is_the_dm05_network_at_output_stride_8(graphs):
    def convs(g):
        return [(ly.op, ly.kernel, ly.output_shape[-1]) for ly in g.layers if ly.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]

    starter, dm05 = graphs["deeplabv3-starter"], graphs["deeplabv3-mnv2-dm05-voc"]
    assert convs(starter) == convs(dm05)
    assert starter.summary.total_params == dm05.summary.total_params == 688357


@pytest.mark.parametrize("name", ["deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8"])
def test_decoder_found_in_the_real_v3plus_models(graphs, name):
    g = graphs[name]
    s = g.summary
    assert (s.input_size, s.output_stride, s.feature_size, s.atrous_rates) == ((512, 512), 16, (32, 32), (2,))
    assert [b.label() for b in s.aspp_branches] == ["image pooling", "1x1 conv"]
    d = s.decoder
    assert d is not None and s.has_decoder
    assert g.layers[d.skip_layer].name == "MobilenetV2/expanded_conv_2/depthwise/Relu6" and d.skip_stride == 4
    assert g.layers[d.projection].name == "decoder/feature_projection0/Relu" and d.projection_channels == 48
    assert g.layers[d.upsample].name == "decoder/ResizeBilinear"
    assert g.layers[d.upsample].output_shape == (1, 128, 128, 256)
    assert g.layers[d.merge].name == "decoder/concat" and g.layers[d.merge].output_shape == (1, 128, 128, 304)
    assert [g.layers[i].name.split("/")[1] for i in d.refinement] == [
        "decoder_conv0_depthwise",
        "decoder_conv0_pointwise",
        "decoder_conv1_depthwise",
        "decoder_conv1_pointwise",
    ]
    assert s.logits_shape == (1, 128, 128, 32) and d.logits_stride == 4
    assert {g.layers[i].role for i in (d.projection, d.upsample, d.merge, *d.refinement)} == {"decoder"}
    assert g.layers[s.logits_layer].role == "logits" and g.layers[s.encoder_layer].role == "atrous"
    row = dict(zip(SUMMARY_COLUMNS, summary_row(s), strict=True))
    assert row["decoder"] == "yes (skip at stride 4, 48-ch projection, logits at stride 4)"
    assert row["output stride"] == "16 (32x32)"
    text = describe_decoder(g)
    assert "low-level projection (48 channels): layer" in text and "logits (output stride 4)" in text


def test_only_the_schema_module_reads_the_model_flatbuffer():
    """One reader of the .tflite file (tflite/schema.py); tflite/metadata.py alone parses the metadata schema."""
    package = Path(deeplab_widgets.__file__).parent
    readers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"schema_py_generated|^\s*(import flatbuffers|from flatbuffers)", path.read_text(), re.M)
    }
    assert readers == {"tflite/schema.py", "tflite/metadata.py"}
    assert "schema_py_generated" not in (package / "tflite" / "metadata.py").read_text()
