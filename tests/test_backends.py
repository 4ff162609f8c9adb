"""Each installed interpreter backend runs the real models; `.ci/tflite-runtime-tests` reruns this file
in a second environment where tflite-runtime is installed and required."""

from __future__ import annotations

import os

import pytest

from deeplab_widgets import BackendError, RuntimeOptions, Segmenter, available_backends, sample_path
from deeplab_widgets.core.runtime import backend_module

BACKENDS = available_backends()
REQUIRED = [b for b in os.environ.get("DEEPLAB_WIDGETS_REQUIRE_BACKEND", "").split(",") if b]


def test_required_backends_are_installed() -> None:
    assert "litert" in BACKENDS or "tflite-runtime" in BACKENDS
    for name in REQUIRED:
        assert name in BACKENDS, f"backend {name} is required here but not importable"


def test_auto_prefers_litert() -> None:
    name, _ = backend_module("auto")
    assert name == BACKENDS[0]
    if "litert" in BACKENDS:
        assert name == "litert"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["deeplabv3-starter", "deeplabv3-mnv2-dm05-voc"])
@pytest.mark.parametrize("xnnpack", [True, False])
def test_backend_segments_the_cat(backend: str, model: str, xnnpack: bool) -> None:
    segmenter = Segmenter(model, RuntimeOptions(backend=backend, xnnpack=xnnpack))
    result = segmenter.segment(sample_path("cat"))
    assert result.options.backend == backend
    assert next(c.name for c in result.present_classes() if c.id) == "cat"


@pytest.mark.skipif("tflite-runtime" in BACKENDS, reason="tflite-runtime is installed here")
def test_missing_backend_says_how_to_install_it() -> None:
    with pytest.raises(
        BackendError,
        match=r"backend 'tflite-runtime' is not installed .*pip install 'deeplab-widgets\[tflite-runtime\]'",
    ):
        Segmenter("deeplabv3-starter", RuntimeOptions(backend="tflite-runtime"))
