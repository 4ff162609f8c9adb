"""The NumPy forward pass against the interpreter, on real photos, for the starter and its derivations."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets import ReferenceForwardError, derive, load_model, load_sample
from deeplab_widgets.analysis import reference
from deeplab_widgets.core.preprocess import fit
from deeplab_widgets.core.runtime import RuntimeOptions, make_interpreter

#: forward() must match the interpreter within this fraction of the largest absolute logit.
TOLERANCE = 1e-3


def interpreter_run(model, photo):
    """The input tensor the interpreter is fed for `photo`, and its output tensor."""
    spec = load_model(model)
    interpreter = make_interpreter(spec.content, RuntimeOptions(num_threads=1))
    pixels, _ = fit(photo, spec.input_size, "stretch")
    spec.feed(interpreter, pixels)
    x = interpreter.get_tensor(spec.input_index).copy()
    interpreter.invoke()
    return x, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


@pytest.mark.parametrize(
    "model",
    [
        pytest.param("deeplabv3-starter", id="starter", marks=pytest.mark.slow),
        pytest.param({"output_stride": 16}, id="starter-os16", marks=pytest.mark.slow),
        pytest.param({"output_stride": 16, "input_size": 321}, id="starter-os16-321px", marks=pytest.mark.slow),
        pytest.param({"output_stride": 32, "image_pooling": False}, id="starter-os32-no-pooling"),
    ],
)
def test_forward_matches_the_interpreter_on_photos(model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path))
    content = model if isinstance(model, str) else derive("deeplabv3-starter", **model).content
    ref = reference.load(content)
    for name in ("cat", "bird"):
        x, expected = interpreter_run(content, load_sample(name))
        got = reference.forward(ref, x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE * np.abs(expected).max(), name
        assert np.mean(got.argmax(-1) == expected.argmax(-1)) > 0.999


def test_run_all_exposes_the_atrous_layer_and_the_image_level_feature() -> None:
    ref = reference.load("deeplabv3-starter")
    x, _ = interpreter_run("deeplabv3-starter", load_sample("bird"))
    tensors = ref.run_all(x)
    atrous = ref.ops[25]
    assert atrous.op == "DEPTHWISE_CONV_2D" and atrous.options["rate"] == 2 and atrous.weights.shape == (1, 3, 3, 192)
    pool = next(op for op in ref.ops if op.op == "AVERAGE_POOL_2D")
    encoder = tensors[pool.inputs[0]]
    assert np.allclose(tensors[pool.outputs[0]], encoder.mean(axis=(1, 2), keepdims=True), atol=1e-5)


def test_resize_bilinear_follows_the_alignment_flags() -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 4, 1)
    aligned = reference.resize_bilinear(x, (1, 7), align_corners=True)[0, 0, :, 0]
    assert np.allclose(aligned, [0, 0.5, 1, 1.5, 2, 2.5, 3])
    legacy = reference.resize_bilinear(x, (1, 8))[0, 0, :, 0]
    assert np.allclose(legacy, [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])
    half = reference.resize_bilinear(x, (1, 8), half_pixel_centers=True)[0, 0, :, 0]
    assert np.allclose(half, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])


def test_quantized_models_and_unimplemented_ops_are_refused_by_name() -> None:
    with pytest.raises(ReferenceForwardError, match="deeplabv3-mnv2-voc is quantized"):
        reference.load("deeplabv3-mnv2-voc")
    with_argmax = load_model("deeplabv3-starter").run_content  # the ARG_MAX head the pipeline grafts on
    with pytest.raises(ReferenceForwardError, match=r"op 70 ARG_MAX \(deeplab_widgets/labels\) is not implemented"):
        reference.load(with_argmax)
    with pytest.raises(ReferenceForwardError, match=r"takes a \(1, 257, 257, 3\) input tensor, not \(1, 3, 257, 257\)"):
        reference.forward("deeplabv3-starter", np.zeros((1, 3, 257, 257), np.float32))
