"""The Segmenter on the real zoo models and real photos."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ALL_MODELS, PASCAL_MODELS
from PIL import Image

from deeplab_widgets import OptionsError, RuntimeOptions, Segmenter, Size, as_segmenter, load_sample, sample_path
from deeplab_widgets.analysis.intermediates import Probe
from deeplab_widgets.assets.zoo import model_info
from deeplab_widgets.core import model as model_module
from deeplab_widgets.core.labels import CITYSCAPES_NAMES
from deeplab_widgets.core.pool import SegmenterPool
from deeplab_widgets.core.preprocess import Placement, argmax_labels, dequantized_softmax, restore, softmax
from deeplab_widgets.core.runtime import RUNNERS
from deeplab_widgets.errors import LabelCountError, NoScoresError
from deeplab_widgets.tflite.outputs import find_logits


def largest_object(result) -> str:
    """The largest class other than background."""
    return next(c.name for c in result.present_classes() if c.id != 0)


@pytest.mark.parametrize("model", PASCAL_MODELS)
def test_cat_is_the_largest_object_with_every_pascal_model(segmenters, model: str) -> None:
    result = segmenters[model].segment(sample_path("cat"))
    assert largest_object(result) == "cat"
    assert result.labels.shape == (341, 512)  # the photo's own size, not the model's
    assert result.labels.dtype == np.uint8


@pytest.mark.parametrize(
    ("sample", "expected"), [("grace_hopper", "person"), ("pets", "dog"), ("kite_and_cold", "person")]
)
def test_everyday_photos(starter, sample: str, expected: str) -> None:
    assert largest_object(starter.segment(sample_path(sample))) == expected


def agreement(result, mask_sample: str) -> float:
    reference = np.asarray(Image.open(sample_path(mask_sample)))
    if reference.ndim == 3:
        reference = reference[..., 0]
    assert reference.shape == result.labels.shape
    return float((reference == result.labels).mean())


def test_bird_agrees_with_reference_mask(segmenters) -> None:
    result = segmenters["deeplabv3-mnv2-voc"].segment(sample_path("bird_segmentation"))
    assert agreement(result, "bird_segmentation_mask") >= 0.97
    assert largest_object(result) == "bird"


def test_cityscapes_model_agrees_with_reference_and_names_classes(segmenters) -> None:
    result = segmenters["deeplab-edgetpu-slim-cityscapes"].segment(sample_path("cityscapes"))
    assert agreement(result, "cityscapes_mask") >= 0.90
    assert result.class_names == CITYSCAPES_NAMES
    names = [c.name for c in result.present_classes()]
    assert names[0] == "road"
    assert "car" in names
    assert result.present_classes()[0].id == 0


def test_starter_labels_come_from_embedded_metadata(starter) -> None:
    assert len(starter.class_names) == 21
    assert starter.class_names[20] == "tv"  # the metadata's labelmap.txt, not the VOC file's "tvmonitor"
    assert starter.spec.normalization.mean == 127.5
    assert starter.spec.output_kind == "logits"


@pytest.mark.parametrize("resize", ["stretch", "pad"])
@pytest.mark.parametrize("model", ["deeplabv3-starter", "deeplabv3-mnv2-dm05-voc"])
def test_both_resize_modes_find_the_dog(segmenters, model: str, resize: str) -> None:
    result = segmenters[model].with_options(resize=resize).segment(sample_path("pets"))
    assert result.resize == resize
    assert result.labels.shape == (430, 512)
    assert largest_object(result) == "dog"


def test_pad_mode_crops_the_padding_away(starter) -> None:
    # A wide photo padded to a square: the bottom rows of the input are padding and must not reach the result.
    result = starter.with_options(resize="pad").segment(sample_path("kite_and_cold"))
    assert result.labels.shape == (900, 1352)


def test_scores_are_probabilities_and_agree_with_labels(starter) -> None:
    result = starter.segment(sample_path("cat"), scores=True)
    assert result.has_scores
    h, w, c = result.scores.shape
    assert (h, w, c) == (257, 257, 21)
    np.testing.assert_allclose(result.scores.sum(axis=-1), 1.0, rtol=1e-4)
    assert result.scores[..., 8].max() > 0.9  # confident cat somewhere
    assert starter.segment(sample_path("cat")).scores is None  # opt-in


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_returns_scores_whose_argmax_is_its_class_map(segmenters, model: str) -> None:
    seg = segmenters[model]
    plain = seg.segment(sample_path("bird"))
    result = seg.segment(sample_path("bird"), scores=True)
    assert plain.scores is None and result.has_scores and seg.spec.has_scores
    h, w, c = result.scores.shape
    ih, iw = seg.spec.input_size
    assert c == seg.spec.num_classes and h <= ih and w <= iw and (h == ih or w == iw)  # the model's resolution
    np.testing.assert_allclose(result.scores.sum(axis=-1), 1.0, rtol=1e-3)
    ids = restore(argmax_labels(result.scores), Placement(Size.of(plain.labels), Size(h, w)))
    assert (ids == plain.labels).mean() >= 0.999
    np.testing.assert_array_equal(result.labels, plain.labels)


@pytest.mark.parametrize("model", ["deeplabv3-mnv2-dm05-voc", "deeplabv3plus-mnv2-ade20k-int8"])
def test_table_softmax_of_real_quantized_logits_equals_the_float_softmax(segmenters, model: str) -> None:
    spec = segmenters[model].spec
    logits = Probe(segmenters[model]).run(sample_path("bird")).raw(spec.scores_index)[0]
    assert logits.dtype in (np.uint8, np.int8)
    scale, zero = spec.scores_quantization
    expected = softmax((logits.astype(np.float32) - zero) * scale)
    np.testing.assert_allclose(dequantized_softmax(logits, spec.scores_quantization), expected, atol=1e-5)


def test_scores_interpreter_is_separate_so_the_default_path_runs_the_original_graph(segmenters) -> None:
    seg = segmenters["deeplabv3plus-mnv2-ade20k-int8"]
    seg.segment(sample_path("bird"), scores=True)
    default, scored = seg.runner.interpreter, seg.spec.scores_runner(seg.options).interpreter
    assert len(default.get_output_details()) == 1 and len(scored.get_output_details()) == 3
    assert scored.get_output_details()[1]["index"] == seg.spec.scores_index
    assert scored.get_output_details()[1]["dtype"] == np.int8  # dequantized with the tensor's own scale
    coarse = scored.get_output_details()[2]  # the decoder's 128x128 logits, before the graph's last resize
    assert coarse["index"] == seg.spec.coarse_index and tuple(coarse["shape"]) == (1, 128, 128, 32)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_coarse_scores_upsample_to_exactly_the_model_resolution_probabilities(segmenters, model: str) -> None:
    seg = segmenters[model]
    image = load_sample("kite_and_cold")
    full, coarse = seg.segment(image, scores=True), seg.segment(image, scores="coarse")
    assert coarse.scores is None and coarse.coarse is not None and coarse.has_scores
    h, w, c = coarse.coarse.logits.shape
    assert (h, w) in {(33, 33), (128, 128)} and c == seg.spec.num_classes  # before the graph's last resize
    np.testing.assert_array_equal(coarse.labels, full.labels)
    np.testing.assert_allclose(coarse.probabilities(), full.scores, atol=2e-6)  # 8-bit models: rounded as the graph
    assert coarse.probabilities() is coarse.probabilities()  # computed once


def test_coarse_scores_of_a_padded_photo_cover_only_the_photo(segmenters) -> None:
    seg = segmenters["deeplabv3-mnv2-voc"]  # pad mode: the cat fills 513x342 of the 513x513 input
    result = seg.segment(load_sample("cat"), scores="coarse")
    assert result.coarse.output_size == (513, 513) and result.coarse.content == (342, 513)
    assert result.probabilities().shape == (342, 513, 21)


def test_scores_accepts_true_false_or_coarse_only(starter) -> None:
    with pytest.raises(OptionsError, match=r"^scores must be True or False \(or 'coarse'\), not 'fine'$"):
        starter.segment(sample_path("cat"), scores="fine")


def test_logits_lookup_by_a_wrong_tensor_name_raises_no_scores_error(shared) -> None:
    content = (shared / "models" / "deeplabv3_mnv2_ade20k_uint8.tflite").read_bytes()
    assert find_logits(content, "ResizeBilinear_1") == find_logits(content)  # the ArgMax's input, by name
    with pytest.raises(NoScoresError) as info:
        find_logits(content, "logits/no_such_tensor")
    assert str(info.value) == (
        "no 4-D tensor named 'logits/no_such_tensor' in the model (0 found), so it has no class scores; "
        "pass the name of the logits tensor that feeds its ArgMax"
    )


def test_result_is_immutable(starter) -> None:
    result = starter.segment(sample_path("cat"))
    with pytest.raises(ValueError):
        result.labels[0, 0] = 3
    with pytest.raises(AttributeError):
        result.model = "other"  # type: ignore[misc]


def test_present_classes_sum_to_one_and_are_sorted(starter) -> None:
    classes = starter.segment(sample_path("cat")).present_classes()
    assert sum(c.fraction for c in classes) == pytest.approx(1.0)
    assert [c.fraction for c in classes] == sorted((c.fraction for c in classes), reverse=True)


def test_timings_are_reported(starter) -> None:
    t = starter.segment(sample_path("cat")).timings
    assert t.invoke_ms > 0 and t.preprocess_ms > 0 and t.postprocess_ms > 0
    assert t.total_ms == pytest.approx(t.preprocess_ms + t.invoke_ms + t.postprocess_ms)


def test_threads_and_xnnpack_options_give_the_same_answer(starter) -> None:
    image = load_sample("cat")
    base = starter.segment(image).labels
    for options in (RuntimeOptions(num_threads=1), RuntimeOptions(num_threads=1, xnnpack=False)):
        other = starter.with_options(options).segment(image)
        assert other.options == options
        assert (other.labels == base).mean() > 0.995


def test_interpreters_are_cached_per_options(starter) -> None:
    one = starter.with_options(RuntimeOptions(num_threads=1))
    assert one.runner is starter.with_options(RuntimeOptions(num_threads=1)).runner
    assert one.runner is not starter.runner


def test_from_file_with_path_and_bytes(shared) -> None:
    path = shared / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    from_path = Segmenter.from_file(path, labels=shared / "models" / "pascal_voc_segmentation_labels.txt")
    assert from_path.class_names[8] == "cat"  # the label file's trailing note is not a class
    assert len(from_path.class_names) == 21
    assert from_path.spec.output_kind == "class_ids"
    assert largest_object(from_path.segment(sample_path("cat"))) == "cat"
    from_bytes = Segmenter.from_file(path.read_bytes())
    assert from_bytes.class_names[8] == "class 8"  # no labels: generic names, the class count read from the graph
    assert len(from_bytes.class_names) == 21


def test_label_file_with_the_wrong_line_count_is_refused(shared, tmp_path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"name {i}" for i in range(10)) + "\n")
    with pytest.raises(LabelCountError) as info:
        Segmenter.from_file(shared / "models" / "deeplabv3_mnv2_ade20k_int8.tflite", labels=labels)
    assert str(info.value) == (
        f"the label file {labels} has 10 class names but the model predicts 32 classes; give one name per class (32 lines)"
    )


@pytest.mark.parametrize("model", ["deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8"])
def test_ade20k_models_name_the_street_scene(segmenters, model: str) -> None:
    seg = segmenters[model]
    assert seg.spec.labels.name == "ade20k-32" and seg.class_names[31] == "armchair"
    top = [c.name for c in seg.segment(sample_path("cityscapes")).present_classes()[:6]]
    assert {"road", "tree", "car"} <= set(top)


def test_coral_cityscapes_label_file_is_realigned(shared) -> None:
    with pytest.warns(UserWarning, match="extra leading 'background'"):
        seg = Segmenter.from_file(
            shared / "models" / "deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite",
            labels=shared / "models" / "cityscapes_segmentation_labels.txt",
        )
    assert seg.class_names == CITYSCAPES_NAMES


def test_grafted_argmax_head_matches_numpy_argmax(starter, monkeypatch) -> None:
    assert starter.spec.labels_index is not None  # the ARG_MAX head was grafted on
    monkeypatch.setattr("deeplab_widgets.core.model.add_argmax_head", lambda content, **_: None)
    plain = Segmenter("deeplabv3-starter")
    assert plain.spec.labels_index is None
    image = load_sample("pets")
    np.testing.assert_array_equal(plain.segment(image).labels, starter.segment(image).labels)


def test_default_resize_is_the_mode_measured_best_per_model(segmenters, shared) -> None:
    assert segmenters["deeplabv3-starter"].resize == "stretch"
    assert segmenters["deeplabv3-mnv2-voc"].resize == "pad"
    assert segmenters["deeplabv3-mnv2-dm05-voc"].resize == "pad"
    assert Segmenter.from_file(shared / "models" / "deeplabv3_mnv2_pascal_quant.tflite").resize == "stretch"
    assert segmenters["deeplabv3-mnv2-voc"].with_options().resize == "pad"


def test_present_classes_is_one_function_for_results_and_bare_masks(starter) -> None:
    from deeplab_widgets.core.segmenter import present_classes

    result = starter.segment(sample_path("cat"))
    assert present_classes(result.labels, result.class_names) == result.present_classes()
    tiny = np.array([[0, 0, 0, 30]], np.uint8)
    assert [(c.id, c.name, c.fraction) for c in present_classes(tiny, ("background", "cat"))] == [
        (0, "background", 0.75),
        (30, "class 30", 0.25),
    ]


def test_a_skipped_argmax_graft_is_logged_with_its_reason(caplog) -> None:
    import logging

    from deeplab_widgets import ModelFormatError, load_model

    logger = logging.getLogger("deeplab_widgets")
    assert logger.handlers == []  # the library configures no handlers: the application decides
    good = load_model("deeplabv3-starter").content
    with caplog.at_level(logging.DEBUG, logger="deeplab_widgets"):
        with pytest.raises(ModelFormatError):
            load_model(good[:5000])
        load_model("deeplabv3-mnv2-dm05-voc")
    messages = [r.getMessage() for r in caplog.records if r.name == "deeplab_widgets"]
    assert messages[0].startswith(
        "uploaded model: no ARG_MAX head grafted, the model could not be parsed (ModelFormatError: "
        "model: the TFLite graph could not be read (error: "
    )
    assert messages[1].startswith("deeplabv3-mnv2-dm05-voc: no ARG_MAX head grafted: the model has no single 4-D")


def test_zoo_ids_resolve_through_the_catalog_the_package_installs(shared) -> None:
    from deeplab_widgets import ModelNotFoundError, load_model
    from deeplab_widgets.assets import zoo
    from deeplab_widgets.core import model

    assert model._CATALOG is zoo  # installed by `import deeplab_widgets`
    with pytest.raises(ModelNotFoundError, match=r"^unknown model 'nope'; known: deeplabv3-starter, "):
        load_model("nope")
    model.use_catalog(None)
    try:  # the core alone knows files and bytes, not ids
        with pytest.raises(ModelNotFoundError, match=r"^model file not found: deeplabv3-starter$"):
            load_model("deeplabv3-starter")
        spec = load_model(shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite")
        assert spec.zoo is None and spec.num_classes == 21
    finally:
        model.use_catalog(zoo)
    assert load_model("deeplabv3-starter").zoo == zoo.model_info("deeplabv3-starter")


def test_as_segmenter_loads_a_model_and_retargets_a_segmenter_without_reloading(starter) -> None:
    assert as_segmenter(starter) is starter
    one = RuntimeOptions(num_threads=1)
    moved = as_segmenter(starter, one, resize="pad", max_pixels=1000)
    assert moved.spec is starter.spec  # the loaded model is shared, not read again
    assert (moved.options, moved.resize, moved.max_pixels) == (one, "pad", 1000)
    assert (starter.options.num_threads, starter.resize) == (2, "stretch")  # the given one is unchanged
    kept = as_segmenter(starter, resize="pad")
    assert kept.options == starter.options and kept.max_pixels == starter.max_pixels  # not given: kept
    loaded = as_segmenter("deeplabv3-starter", one, resize="pad")
    assert loaded.spec.digest == starter.spec.digest and (loaded.options, loaded.resize) == (one, "pad")
    assert as_segmenter(starter.spec).spec is starter.spec
    with pytest.raises(OptionsError, match="labels apply when a model is loaded"):
        as_segmenter(starter, labels=["a", "b"])


def unique_model(name: str) -> bytes:
    """A zoo model's bytes with padding after its flatbuffer: the same network under a digest no other test uses."""
    return model_info(name).fetch().read_bytes() + b"\0" * 16


def test_close_frees_the_interpreters_no_other_segmenter_uses() -> None:
    seg = Segmenter(unique_model("deeplabv3-mnv2-dm05-voc"), RuntimeOptions(num_threads=1))
    digest = seg.spec.digest
    before = seg.segment(sample_path("cat"), scores=True)  # the class-id model's scores graph and its interpreter
    SegmenterPool(seg, size=2, threads=1)  # and a pool's extra interpreter
    other = seg.with_options(resize="pad")
    other.segment(sample_path("cat"))
    assert (
        RUNNERS.cached(digest) == 3 and digest in model_module._SCORES_GRAPHS
    )  # plain (loading used it), scores, extra
    seg.close()
    assert RUNNERS.cached(digest) == 1, "the interpreter the other segmenter uses stays"
    assert digest in model_module._SCORES_GRAPHS
    other.close()
    assert RUNNERS.cached(digest) == 0 and digest not in model_module._SCORES_GRAPHS
    again = seg.segment(sample_path("cat"), scores=True)  # a closed segmenter builds its interpreter again
    assert np.array_equal(again.labels, before.labels)
    with Segmenter(seg.spec, RuntimeOptions(num_threads=1)) as scoped:
        scoped.segment(sample_path("cat"))
        assert RUNNERS.cached(digest) >= 1
    seg.close()
    assert RUNNERS.cached(digest) == 0


def test_the_scores_graph_cache_keeps_only_the_last_models() -> None:
    segmenters = []
    for k in range(model_module.SCORES_GRAPHS_KEPT + 2):
        data = model_info("deeplabv3-mnv2-dm05-voc").fetch().read_bytes() + bytes([k + 1]) * 8
        segmenters.append(Segmenter(data, RuntimeOptions(num_threads=1)))
        model_module.scores_graph(segmenters[-1].spec)
    digests = [s.spec.digest for s in segmenters]
    kept = [d for d in digests if d in model_module._SCORES_GRAPHS]
    assert kept == digests[-model_module.SCORES_GRAPHS_KEPT :]
    assert len(model_module._SCORES_GRAPHS) == model_module.SCORES_GRAPHS_KEPT
    for seg in segmenters:
        seg.close()
