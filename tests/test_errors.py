"""Every error a user can cause is a `DeeplabWidgetsError` subclass whose message says what to do."""

from __future__ import annotations

from dataclasses import replace

import pytest

import deeplab_widgets.errors as errors_module
from deeplab_widgets import (
    DeeplabWidgetsError,
    LayerNotFoundError,
    OptionsError,
    SampleNotFoundError,
    Segmenter,
    SizeMismatchError,
    StageNotFoundError,
    load_sample,
    read_graph,
)
from deeplab_widgets.analysis.intermediates import Probe
from deeplab_widgets.assets.samples import sample
from deeplab_widgets.viz import heat_values, overlay, thumbnail
from deeplab_widgets.workflows.bench import benchmark_pipeline

STARTER = "deeplabv3-starter"


def message(info: pytest.ExceptionInfo) -> str:
    return str(info.value)


def test_every_error_class_belongs_to_the_hierarchy() -> None:
    classes = [c for c in vars(errors_module).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) > 15
    assert all(issubclass(c, DeeplabWidgetsError) for c in classes)


@pytest.fixture(scope="module")
def cat_result():
    return Segmenter(STARTER).segment(load_sample("cat"), scores=True)


def test_an_unknown_sample_is_a_missing_sample_not_a_missing_model() -> None:
    with pytest.raises(SampleNotFoundError) as info:
        sample("dragon")
    assert message(info).startswith("unknown sample 'dragon'; known: cat, pets, bird, ")
    assert isinstance(info.value, KeyError)  # code that caught KeyError still does


def test_a_photo_of_another_size_is_a_size_mismatch(cat_result) -> None:
    small = load_sample("cat").resize((100, 80))
    h, w = cat_result.labels.shape
    expected = f"image is 100x80 but the mask is {w}x{h}; show a result with the photo it was segmented from"
    with pytest.raises(SizeMismatchError) as info:
        overlay(small, cat_result)
    assert message(info) == expected
    with pytest.raises(SizeMismatchError) as info:
        thumbnail(small, cat_result)
    assert message(info) == expected


def test_an_unknown_heat_map_is_an_options_error(cat_result) -> None:
    with pytest.raises(OptionsError) as info:
        heat_values(cat_result, "variance")
    assert message(info) == "unknown heat map 'variance'; choose one of: confidence, entropy"


def test_graph_lookups_say_how_to_name_a_layer() -> None:
    graph = read_graph(STARTER)
    with pytest.raises(LayerNotFoundError) as info:
        graph.layer(999)
    assert message(info) == "no layer 999; the graph has 70 layers: use an index from 0 to 69"
    with pytest.raises(LayerNotFoundError) as info:
        graph.layer("expanded_conv")
    assert message(info).endswith(" layers match 'expanded_conv'; use an index or a longer name")


def test_activation_lookups_say_what_to_use_instead() -> None:
    probe = Probe(STARTER)
    acts = probe.run(load_sample("bird"))
    with pytest.raises(LayerNotFoundError) as info:
        acts.raw("no/such/tensor")
    assert message(info) == (
        f"0 activation tensors are named 'no/such/tensor' in {STARTER}; "
        "use an exact name from graph.tensor_names or a tensor index"
    )
    with pytest.raises(LayerNotFoundError) as info:
        acts.raw(10**6)
    assert message(info) == (
        f"tensor 1000000 is not an activation of {STARTER}; use a layer's output tensor "
        "(graph.layer(i).outputs) or a layer with layer_output()"
    )
    summary = acts.graph.summary
    bare = replace(acts, graph=replace(acts.graph, summary=replace(summary, image_pooling=None, logits_layer=None)))
    with pytest.raises(LayerNotFoundError) as info:
        bare.image_pooling()
    assert message(info) == (
        f"{STARTER} has no image-pooling branch; choose a model whose ASPP has one, e.g. deeplabv3-starter"
    )
    with pytest.raises(LayerNotFoundError) as info:
        bare.coarse_logits()
    assert (
        message(info) == f"{STARTER} has no convolution producing logits; use logits() for its full-resolution scores"
    )


def test_an_unknown_pipeline_stage_lists_the_stages() -> None:
    result = benchmark_pipeline(STARTER, runs=1, warmup=0)
    with pytest.raises(StageNotFoundError) as info:
        result.stage("upload")
    assert message(info) == (
        "no stage 'upload'; the stages are: decode, preprocess, invoke, postprocess, render, other, total"
    )
