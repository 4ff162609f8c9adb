"""Quantizing the real starter model with LiteRT's quantizer: normalisation, every recipe, bad input, the CLI."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest

from deeplab_widgets import Segmenter, load_sample, model_info
from deeplab_widgets.cli import main
from deeplab_widgets.errors import (
    AlreadyQuantizedError,
    CalibrationError,
    DependencyError,
    DownloadError,
    ModelNotFoundError,
    OptionsError,
    QuantizationError,
)
from deeplab_widgets.tflite import schema
from deeplab_widgets.tflite.metadata import read_labels
from deeplab_widgets.tflite.normalize import (
    SIGNATURE_KEY,
    legacy_operator_codes,
    needs_normalization,
    normalize,
    normalize_operator_codes,
)
from deeplab_widgets.tflite.quantization import summarize, tensor_quantization, weight_values
from deeplab_widgets.workflows import quantize as qz
from deeplab_widgets.workflows.labelled import labelled_pairs

#: Photos the calibrated models are not calibrated on ("samples" calibrates on the first ones: cat, pets, bird).
HELD_OUT = ("parrot", "grace_hopper", "kite_and_cold", "bird_segmentation")


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch) -> None:
    """Quantized models go to a cache folder of the test session, never the user's."""
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def starter_bytes() -> bytes:
    return model_info("deeplabv3-starter").fetch().read_bytes()


@pytest.fixture(scope="module")
def float_maps(starter) -> dict[str, np.ndarray]:
    return {name: starter.segment(load_sample(name)).labels for name in HELD_OUT}


def agreement(segmenter: Segmenter, float_maps: dict[str, np.ndarray]) -> float:
    """Median over the held-out photos of the share of pixels whose class matches the float model's."""
    return statistics.median(
        float((segmenter.segment(load_sample(name)).labels == labels).mean()) for name, labels in float_maps.items()
    )


# ------------------------------------------------------------------------------------------------ normalisation


def test_the_starter_keeps_its_operator_codes_only_in_the_deprecated_field(starter_bytes) -> None:
    model = schema.read_model(starter_bytes)
    assert {code.builtinCode for code in model.operatorCodes} == {0}
    assert legacy_operator_codes(model) == len(model.operatorCodes) - 1  # ADD (code 0) is right by accident
    assert not model.signatureDefs
    assert needs_normalization(starter_bytes)


def test_normalize_gives_real_operator_codes_and_a_serving_signature_and_keeps_the_label_map(starter_bytes) -> None:
    from ai_edge_litert.interpreter import Interpreter

    fixed = normalize(starter_bytes)
    model = schema.read_model(fixed)
    assert legacy_operator_codes(model) == 0
    assert sorted(schema.op_name(model, op) for op in model.subgraphs[0].operators[:2]) == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
    ]
    assert Interpreter(model_content=fixed).get_signature_list() == {
        SIGNATURE_KEY: {"inputs": ["sub_7"], "outputs": ["ResizeBilinear_3"]}
    }
    assert read_labels(fixed) == read_labels(starter_bytes)
    assert not needs_normalization(fixed)
    assert normalize(fixed) is fixed


def test_normalisation_does_not_change_what_the_model_computes(starter_bytes, starter) -> None:
    normalized = Segmenter.from_file(normalize(starter_bytes))
    photo = load_sample("cat")
    assert np.array_equal(normalized.segment(photo).labels, starter.segment(photo).labels)
    assert normalized.class_names == starter.class_names


def test_a_model_quantized_without_normalisation_is_detected_as_unchanged(starter_bytes) -> None:
    with pytest.raises(QuantizationError, match="returned the model unchanged .*normalised first"):
        qz.run_quantizer(starter_bytes, "dynamic-int8", name="starter")


def test_static_quantization_without_a_signature_is_refused_with_a_clear_error(starter_bytes, starter) -> None:
    model = schema.read_model(starter_bytes)
    normalize_operator_codes(model)  # real codes, but still no signature
    unsigned = schema.write_model(model, len(starter_bytes))
    calibration = qz.calibration_set(starter, "samples", 1)
    with pytest.raises(QuantizationError, match="no 'serving_default' signature"):
        qz.run_quantizer(unsigned, "int8", calibration, name="starter")


def test_weights_the_quantizer_stores_after_the_flatbuffer_survive_a_rewrite() -> None:
    from ai_edge_litert.interpreter import Interpreter

    content = qz.quantize("deeplabv3-starter", "weight-only-int8").path.read_bytes()
    offsets = schema.schema_module().Model.GetRootAs(content, 0)
    assert any(offsets.Buffers(i).Offset() > 1 for i in range(offsets.BuffersLength()))  # stored outside
    model = schema.read_model(content)
    assert not any(getattr(b, "offset", 0) > 1 for b in model.buffers)  # read_model brought them inside
    rewritten = schema.write_model(model, len(content))
    photo = np.random.default_rng(0).uniform(-1, 1, (1, 257, 257, 3)).astype(np.float32)
    outputs = []
    for data in (content, rewritten):
        interpreter = Interpreter(model_content=data)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], photo)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    assert np.array_equal(*outputs)


# ------------------------------------------------------------------------------------------------ recipes

#: recipe -> (weight type, activation type, largest size ratio, least agreement with float on held-out photos)
EXPECTED = {
    "dynamic-int8": ("INT8", "FLOAT32", 0.32, 0.97),
    "weight-only-int8": ("INT8", "FLOAT32", 0.32, 0.97),
    "weight-only-int4": ("INT4", "FLOAT32", 0.22, 0.90),
    "int8": ("INT8", "INT8", 0.36, 0.97),
    "int16x8": ("INT8", "INT16", 0.37, 0.97),
}


@pytest.mark.parametrize("recipe", qz.RECIPES)
def test_each_recipe_writes_a_smaller_model_that_segments_like_the_float_one(recipe, starter, float_maps) -> None:
    weights, activations, ratio, least = EXPECTED[recipe]
    result = qz.quantize("deeplabv3-starter", recipe, calibration="samples", count=3)
    assert result.summary.weights.get(weights, 0) >= 38  # int4: the 38 convolutions; the rest: all 55 weights
    assert max(result.summary.activations, key=result.summary.activations.get) == activations
    assert result.ratio < ratio
    assert result.path.stat().st_size == result.size
    assert (result.calibration is not None) == (recipe in qz.CALIBRATED)
    quantized = result.segmenter()
    assert quantized.class_names == starter.class_names  # the label map is carried over
    assert agreement(quantized, float_maps) >= least


def test_weight_only_int4_leaves_the_depthwise_convolutions_in_float() -> None:
    result = qz.quantize("deeplabv3-starter", "weight-only-int4")
    content = result.path.read_bytes()
    model = schema.read_model(content)
    graph = model.subgraphs[0]
    float_kinds = set()
    for op in graph.operators:
        name = schema.op_name(model, op)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weight = graph.tensors[op.inputs[1]]
            if schema.tensor_type(weight) == "FLOAT32" and schema.is_constant(model, weight):
                float_kinds.add(name)
    assert float_kinds == {"DEPTHWISE_CONV_2D"}


def test_a_static_int8_model_stores_per_channel_weights_and_a_per_tensor_input() -> None:
    content = qz.quantize("deeplabv3-starter", "int8", count=2).path.read_bytes()
    values, weights = weight_values(content, "MobilenetV2/Conv/weights")
    assert weights.per_channel and weights.axis == 0 and len(weights.scales) == 16
    assert set(weights.zero_points) == {0} and values.dtype == np.int8 and np.abs(values).max() == 127
    image = tensor_quantization(content, "sub_7")
    assert image.dtype == "INT8" and not image.per_channel
    # The input range is the one calibration saw (pixels normalised to [-1, 1]; the two photos' darkest
    # pixels are not black), blended as the quantizer's moving average: 0.95 of the first photo, 0.05 of the next.
    inputs = qz.calibration_set(Segmenter("deeplabv3-starter"), "samples", 2).inputs
    low, high = (np.array([-128, 127]) - image.zero_points[0]) * image.scales[0]
    expected_low = 0.95 * inputs[0].min() + 0.05 * inputs[1].min()
    assert low == pytest.approx(min(expected_low, 0), abs=0.01) and high == pytest.approx(1, abs=0.01)


def test_the_legacy_uint8_zoo_model_is_per_tensor_asymmetric() -> None:
    content = model_info("deeplabv3plus-mnv2-ade20k").fetch().read_bytes()
    weights = tensor_quantization(content, "MobilenetV2/Conv/weights_quant/FakeQuantWithMinMaxVars")
    assert weights.dtype == "UINT8" and not weights.per_channel and weights.zero_points[0] not in (0, 128)
    assert summarize(content).weights == {"UINT8": 60}


# ------------------------------------------------------------------------------------------------ cache and files


def test_a_second_call_comes_from_the_cache_and_another_calibration_set_does_not(tmp_path) -> None:
    first = qz.quantize("deeplabv3-starter", "int8", count=2)
    again = qz.quantize("deeplabv3-starter", "int8", count=2)
    other = qz.quantize("deeplabv3-starter", "int8", count=3)
    assert again.cached and again.path == first.path
    assert other.path != first.path
    out = qz.quantize("deeplabv3-starter", "int8", count=2, out=tmp_path / "q.tflite")
    assert out.path == tmp_path / "q.tflite" and out.path.read_bytes() == first.path.read_bytes()
    assert not list(tmp_path.glob(".*.part"))


def test_a_damaged_cache_file_is_made_again() -> None:
    first = qz.quantize("deeplabv3-starter", "weight-only-int8")
    first.path.write_bytes(b"TFL3 but not a model")
    again = qz.quantize("deeplabv3-starter", "weight-only-int8")
    assert not again.cached and Segmenter.from_file(again.path).segment(load_sample("cat")).labels.any()


@pytest.mark.slow
def test_the_quantized_model_runs_in_eval_bench_batch_and_video(tmp_path) -> None:
    from deeplab_widgets import benchmark, segment_many, segment_video
    from deeplab_widgets.workflows.evaluate import evaluate

    path = qz.quantize("deeplabv3-starter", "int8", count=3, out=tmp_path / "q.tflite").path
    segmenter = Segmenter.from_file(path)
    assert evaluate(segmenter, labelled_pairs(), progress=False).miou > 0.5
    assert benchmark(path, runs=3).stats.count == 3
    photos = tmp_path / "photos"
    photos.mkdir()
    load_sample("cat").save(photos / "cat.png")
    records = list(segment_many([photos], segmenter, tmp_path / "out", progress=False))
    assert records[0].ok and "cat" in [c.name for c in records[0].classes]
    frames = list(segment_video("cockatoo", segmenter, limit=3))
    assert len(frames) == 3


# ------------------------------------------------------------------------------------------------ bad input


def test_an_already_quantized_model_is_refused() -> None:
    with pytest.raises(AlreadyQuantizedError, match="deeplabv3-mnv2-voc is already quantized .*float original"):
        qz.quantize("deeplabv3-mnv2-voc", "int8")


def test_a_quantized_result_cannot_be_quantized_again() -> None:
    path = qz.quantize("deeplabv3-starter", "dynamic-int8").path
    with pytest.raises(AlreadyQuantizedError):
        qz.quantize(path, "int8")


def test_an_empty_calibration_folder_is_refused(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(CalibrationError, match=f"no photos .* in the calibration folder {tmp_path}"):
        qz.quantize("deeplabv3-starter", "int8", calibration=tmp_path)


def test_voc_calibration_without_the_labelled_pairs_names_the_mirror_variable(shared, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPLAB_WIDGETS_MIRROR", str(shared / "models"))  # the model, not the pairs
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path))
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # no network, even on a machine that has one
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        DownloadError, match=r"^could not download 'icevision_2007_000063 image' .* named by \$DEEPLAB_WIDGETS_MIRROR$"
    ):
        qz.quantize("deeplabv3-starter", "int8", calibration="voc")


def test_a_missing_calibration_folder_is_refused(tmp_path) -> None:
    with pytest.raises(CalibrationError, match="calibration folder not found"):
        qz.quantize("deeplabv3-starter", "int8", calibration=tmp_path / "nowhere")


@pytest.mark.parametrize("count", [0, -1, 2.5, True])
def test_a_count_below_one_is_refused(count) -> None:
    with pytest.raises(CalibrationError, match="a whole number of photos >= 1"):
        qz.quantize("deeplabv3-starter", "int8", count=count)


def test_more_photos_than_the_source_has_is_refused() -> None:
    with pytest.raises(CalibrationError, match=r"100 calibration photos asked for, but samples has \d+"):
        qz.quantize("deeplabv3-starter", "int8", count=100)


def test_an_unknown_recipe_and_a_missing_model_file_are_refused(tmp_path) -> None:
    with pytest.raises(OptionsError, match="unknown quantization recipe 'int2'; choose one of: dynamic-int8"):
        qz.quantize("deeplabv3-starter", "int2")  # type: ignore[arg-type]
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        qz.quantize(tmp_path / "missing.tflite", "int8")


def test_without_the_quantizer_the_error_names_the_extra(monkeypatch) -> None:
    from importlib.metadata import PackageNotFoundError

    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(qz, "version", missing)
    with pytest.raises(DependencyError, match=r"pip install 'deeplab-widgets\[quantize\]'"):
        qz.quantize("deeplabv3-starter", "int8")


# ------------------------------------------------------------------------------------------------ done when


@pytest.fixture(scope="module")
def voc_split(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The labelled VOC photos: the first 8 copied into a calibration folder, the other 7 held out."""
    photos = [item.image_path for item in labelled_pairs().items]
    folder = tmp_path_factory.mktemp("calibration")
    for path in photos[:8]:
        shutil.copy(path, folder / path.name)
    return folder, photos[8:]


@pytest.mark.slow
def test_the_cli_writes_a_small_int8_starter_that_agrees_with_float_on_photos_it_was_not_calibrated_on(
    voc_split, tmp_path, capfd, starter
) -> None:
    folder, held_out = voc_split
    out = tmp_path / "q.tflite"
    argv = ["quantize", "deeplabv3-starter", "--recipe", "int8", "--calibration", str(folder), "--count", "8"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capfd.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].startswith("deeplabv3-starter int8: 2.78 MB -> 0.") and "x) in " in lines[0]
    assert "calibrated on 8 photos" in lines[1] and "INT8" in lines[1]
    assert "Quantization Ratio" not in printed.out + printed.err and "Running Calibration" not in printed.err
    assert "INFO:" not in printed.err
    bars = [line.strip() for line in printed.err.replace("\r", "\n").splitlines() if line.strip()]
    assert all(bar.startswith("deeplabv3-starter int8: ") and "/s" not in bar for bar in bars), bars[:3]
    for stage in ("photos", "calibrating"):  # each stage drawn with its own count, at the end complete
        assert f"deeplabv3-starter int8: {stage}: 100%" in "\n".join(bars) and not any(
            stage in bar and "/8" not in bar for bar in bars
        )
    assert any(bar.startswith("deeplabv3-starter int8: quantizing: 100%") and "1/1" in bar for bar in bars)
    assert out.stat().st_size < 1.3e6
    quantized = Segmenter.from_file(out)
    agreements = [float((quantized.segment(path).labels == starter.segment(path).labels).mean()) for path in held_out]
    assert statistics.median(agreements) >= 0.97


def test_the_cli_prints_json_and_bad_input_as_one_line(tmp_path, capfd) -> None:
    assert main(["quantize", "deeplabv3-starter", "--recipe", "weight-only-int8", "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["recipe"] == "weight-only-int8" and result["ratio"] < 0.32 and result["calibration"] is None
    assert main(["quantize", "deeplabv3-starter", "--calibration", str(tmp_path), "--count", "2"]) == 1
    err = capfd.readouterr().err
    assert err.startswith("deeplab-widgets: error: no photos") and err.count("\n") == 1
    assert main(["quantize", "deeplabv3-mnv2-voc"]) == 1
    assert "already quantized" in capfd.readouterr().err
