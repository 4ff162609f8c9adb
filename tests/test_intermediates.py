"""Intermediate tensors of the real models, read with preserve_all_tensors (opt-in probing)."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets.analysis.concepts import upsample_bilinear
from deeplab_widgets.analysis.intermediates import Probe
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.errors import LayerNotFoundError

CORAL = {
    "deeplabv3-mnv2-dm05-voc": ("bird_segmentation", 21),
    "deeplabv3-mnv2-voc": ("bird_segmentation", 21),
    "deeplab-edgetpu-slim-cityscapes": ("cityscapes", 19),
}


@pytest.fixture(scope="module")
def starter_acts():
    probe = Probe("deeplabv3-starter")
    return probe, probe.run(sample_path("bird_segmentation"))


def test_intermediate_tensor_read_by_name_has_the_right_shape(starter_acts):
    _, acts = starter_acts
    name = "MobilenetV2/expanded_conv_7/depthwise/Relu6"
    assert acts.raw(name).shape == (1, 33, 33, 192)
    fmap = acts.values(name)
    assert fmap.shape == (33, 33, 192)
    assert fmap.min() >= 0.0 and fmap.max() <= 6.0  # a ReLU6 output
    assert fmap.std() > 0.1  # real activations, not an untouched buffer
    assert np.array_equal(acts.layer_output(25), fmap)
    assert acts.info(name).index == acts.graph.layer(25).outputs[0]
    with pytest.raises(KeyError, match="0 activation tensors are named 'no/such/tensor'"):
        acts.raw("no/such/tensor")


def test_starter_logits_match_the_default_segment_path(starter, starter_acts):
    _probe, acts = starter_acts
    result = starter.segment(sample_path("bird_segmentation"), scores=True)
    assert acts.logits().shape == (257, 257, 21)
    assert np.array_equal(acts.class_ids, result.scores.argmax(axis=-1))
    assert np.allclose(acts.confidence(), result.scores.max(axis=-1), atol=1e-5)
    assert acts.coarse_logits().shape == (33, 33, 21)


def test_probing_is_opt_in_and_leaves_the_default_path_alone(starter, starter_acts):
    probe, acts = starter_acts
    assert probe.runner is not starter.runner
    before, seg_before = probe.invocations, starter.invocations
    acts.layer_output(40)
    acts.coarse_logits()
    assert probe.invocations == before  # reading tensors never re-runs the model
    assert starter.invocations == seg_before


def test_image_pooling_feature_and_encoder_output(starter_acts):
    _, acts = starter_acts
    enc = acts.encoder_features()
    assert enc.shape == (33, 33, 160)
    pooled = acts.layer_output(acts.graph.summary.image_pooling.pool)
    assert pooled.shape == (1, 1, 160)
    assert np.allclose(pooled[0, 0], enc.mean(axis=(0, 1)), atol=1e-4)
    assert acts.image_pooling().shape == (1, 1, 256)


@pytest.mark.parametrize("name", list(CORAL))
def test_coral_pre_argmax_logits_reproduce_the_model_output(segmenters, name):
    photo, classes = CORAL[name]
    probe = Probe(segmenters[name])
    acts = probe.run(sample_path(photo))
    argmax_layer = acts.graph.layers[acts.graph.summary.argmax_layer]
    raw = acts.raw(argmax_layer.inputs[0])
    assert raw.shape == (1, 513, 513, classes) and raw.dtype == np.uint8
    out = acts.output()
    assert out.shape == (513, 513)
    agree = float(np.mean(acts.logits().argmax(axis=-1) == out))
    assert agree >= 0.99
    # the same class map as the default (ArgMax-only) path gives on this 513x513 photo
    labels = segmenters[name].segment(sample_path(photo)).labels
    assert float(np.mean(labels == out)) >= 0.99
    conf = acts.confidence()
    assert conf.shape == (513, 513) and 1.0 / classes <= conf.min() and conf.max() <= 1.0


@pytest.mark.parametrize("name", ["deeplabv3-mnv2-voc", "deeplab-edgetpu-slim-cityscapes"])
def test_coarse_logits_at_native_resolution_upsample_to_the_output(segmenters, name):
    photo, classes = CORAL[name]
    acts = Probe(segmenters[name]).run(sample_path(photo))
    coarse = acts.coarse_logits()
    assert coarse.shape == (33, 33, classes)
    layer = acts.graph.layers[acts.graph.summary.logits_layer]
    assert acts.graph.layers[layer.index + 1].op == "RESIZE_BILINEAR"
    up = upsample_bilinear(coarse, (513, 513), align_corners=True).argmax(axis=-1)
    assert float(np.mean(up == acts.output())) >= 0.99


def test_probe_from_a_segmenter_keeps_its_options(segmenters):
    seg = segmenters["deeplabv3-mnv2-dm05-voc"]
    probe = Probe(seg)
    assert probe.spec is seg.spec and probe.options == seg.options


@pytest.mark.parametrize("name", ["deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8"])
def test_v3plus_decoder_tensors_on_the_street_scene(segmenters, name):
    acts = Probe(segmenters[name]).run(sample_path("cityscapes"))
    assert acts.encoder_features().shape == (32, 32, 320)  # output stride 16
    assert acts.decoder_upsampled().shape == (128, 128, 256)
    assert acts.decoder_low_level().shape == (128, 128, 144)  # stride 4
    projection = acts.decoder_projection()
    assert projection.shape == (128, 128, 48) and projection.min() >= 0 and projection.std() > 0.1  # after a ReLU
    assert acts.decoder_output().shape == (128, 128, 256)
    coarse = acts.coarse_logits()
    assert coarse.shape == (128, 128, 32)  # the decoder's logits, output stride 4
    # the decoder's upsampled encoder features are the bilinear upsampling of the 32x32 ASPP projection
    aspp = acts.values(acts.graph.layers[acts.graph.summary.decoder.upsample].inputs[0])
    assert aspp.shape == (32, 32, 256)
    # the coarse logits' classes are the model's own: road dominates the street scene
    names = segmenters[name].class_names
    top = np.bincount(coarse.argmax(axis=-1).ravel(), minlength=32).argmax()
    assert names[top] == "road"
    assert acts.class_ids.shape == (512, 512) and (acts.class_ids == top).mean() > 0.5


def test_decoder_tensors_of_a_v3_model_say_there_is_no_decoder(starter_acts):
    _, acts = starter_acts
    with pytest.raises(LayerNotFoundError, match="deeplabv3-starter has no decoder"):
        acts.decoder_projection()
