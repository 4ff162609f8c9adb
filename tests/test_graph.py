"""The layer table and DeepLab summary parsed from the real zoo models' .tflite graphs."""

from __future__ import annotations

import math

import pytest
from synthetic_v3plus import build_v3plus

from deeplab_widgets import ModelFormatError, ModelNotFoundError
from deeplab_widgets.assets.zoo import model_names
from deeplab_widgets.core.model import load_model
from deeplab_widgets.core.runtime import RuntimeOptions, make_interpreter
from deeplab_widgets.tflite.graph import ROLES, read_graph, schema_module

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


def test_bad_models_raise_named_errors():
    good = load_model("deeplabv3-mnv2-dm05-voc").content
    with pytest.raises(ModelFormatError, match="graph could not be read"):
        read_graph(good[:5000])
    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        read_graph(b"this is not a model at all")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        read_graph("missing/model.tflite")


def test_starter_is_the_dm05_network_at_output_stride_8(graphs):
    def convs(g):
        return [(ly.op, ly.kernel, ly.output_shape[-1]) for ly in g.layers if ly.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]

    starter, dm05 = graphs["deeplabv3-starter"], graphs["deeplabv3-mnv2-dm05-voc"]
    assert convs(starter) == convs(dm05)
    assert starter.summary.total_params == dm05.summary.total_params == 688357


def test_decoder_found_in_a_v3plus_graph():
    """No zoo model has a decoder; a small v3+ graph written with the TFLite schema exercises detection."""
    content = build_v3plus(schema_module())
    g = read_graph(content)
    s = g.summary
    assert (s.output_stride, s.feature_size, s.atrous_rates) == (8, (8, 8), (2,))
    assert [b.label() for b in s.aspp_branches] == ["image pooling", "1x1 conv", "atrous rate 4"]
    assert s.aspp_rates == (4,)
    assert s.decoder is not None and s.has_decoder
    assert g.layers[s.decoder.merge].name == "decoder/concat"
    assert g.layers[s.decoder.skip_layer].name == "backbone/conv2" and s.decoder.skip_stride == 4
    roles = {ly.name: ly.role for ly in g.layers}
    assert roles["backbone/conv3"] == "backbone" and roles["backbone/atrous_dw"] == "atrous"
    assert roles["aspp1_pointwise"] == "aspp" and roles["concat_projection"] == "aspp"
    assert roles["decoder/feature_projection"] == "decoder" and roles["decoder/conv"] == "decoder"
    assert roles["logits/semantic"] == "logits" and roles["output"] == "logits"
    # the same graph loads and allocates in LiteRT
    interpreter = make_interpreter(content, RuntimeOptions(num_threads=1))
    assert tuple(interpreter.get_output_details()[0]["shape"]) == (1, 64, 64, 5)
