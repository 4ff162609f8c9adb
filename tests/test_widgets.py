"""The widgets driven from Python as a user would: real models, real photos, real uploads."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import (
    ImagePicker,
    MaskViewer,
    RuntimeControls,
    RuntimeOptions,
    TimingReadout,
    Workbench,
    list_samples,
    load_sample,
    sample_path,
)
from deeplab_widgets.core.labels import CITYSCAPES_NAMES
from deeplab_widgets.core.runtime import available_backends, cpu_count
from deeplab_widgets.widgets.runtime_controls import LOAD_FILE

CAT = 8  # VOC class id


def upload_item(name: str, data: bytes, kind: str = "image/jpeg") -> dict:
    """What ipywidgets 8's FileUpload holds after a browser upload."""
    return {
        "name": name,
        "type": kind,
        "size": len(data),
        "content": memoryview(data),
        "last_modified": datetime.now(timezone.utc),
    }


def shown(viewer: MaskViewer) -> np.ndarray:
    """The picture on screen, decoded."""
    return np.asarray(Image.open(io.BytesIO(viewer.value)).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def bench():
    """One workbench for the module (the starter model on the cat sample)."""
    return Workbench()


def test_workbench_opens_with_a_segmented_sample(bench):
    assert bench.result is not None and bench.picker.source == "sample cat"
    assert [c.name for c in bench.result.present_classes()][:2] == ["background", "cat"]
    assert bench.viewer.value[:3] == b"\xff\xd8\xff"
    assert "cat" in bench.viewer.legend.value and "#400000" in bench.viewer.legend.value
    assert "sample cat" in bench.status.value and "deeplabv3-starter" in bench.status.value
    assert bench.invocations == 1


def test_stable_css_classes_for_browser_tests(bench):
    expected = {
        "dlw-overlay": bench.viewer.display_image,
        "dlw-alpha": bench.viewer.alpha_slider,
        "dlw-legend": bench.viewer.legend,
        "dlw-status": bench.status,
        "dlw-model": bench.controls.model_dropdown,
        "dlw-sample-kite_and_cold": bench.picker.buttons["kite_and_cold"],
    }
    for css, widget in expected.items():
        assert css in widget._dom_classes


def test_display_only_changes_never_rerun_the_model(bench):
    bench.picker.buttons["cat"].click()
    runs, before = bench.invocations, bench.viewer.value
    bench.viewer.alpha_slider.value = 0.15
    after_alpha = bench.viewer.value
    assert after_alpha != before
    for mode in ("mask", "side by side", "boundaries", "confidence", "entropy", "overlay"):
        bench.viewer.mode_buttons.value = mode
    assert bench.viewer.value == after_alpha  # back to the same overlay, same bytes
    assert bench.invocations == runs


def test_hiding_a_class_uncolours_its_pixels(bench):
    bench.picker.buttons["cat"].click()
    bench.viewer.alpha_slider.value = 0.8
    photo = np.asarray(bench.image).astype(int)
    is_cat = bench.result.labels == CAT
    runs = bench.invocations
    assert np.abs(shown(bench.viewer)[is_cat] - photo[is_cat]).mean() > 30  # coloured
    toggle = next(t for t in bench.viewer.class_toggles.children if t.class_id == CAT)
    toggle.value = False  # the user clicks the "cat" toggle
    assert bench.viewer.hidden == (CAT,)
    assert np.abs(shown(bench.viewer)[is_cat] - photo[is_cat]).mean() < 4  # the photo (JPEG noise only)
    assert "<s>cat</s>" in bench.viewer.legend.value
    toggle.value = True
    assert bench.viewer.hidden == ()
    assert bench.invocations == runs


def test_pick_each_sample(bench):
    for item in list_samples("photo"):
        bench.picker.buttons[item.name].click()
        assert bench.picker.source == f"sample {item.name}"
        assert bench.result.labels.shape == (bench.image.height, bench.image.width)
        assert item.shows in [c.name for c in bench.result.present_classes()], item.name
        assert item.name in bench.status.value


def test_upload_an_image_then_a_text_file(bench):
    data = sample_path("pets").read_bytes()
    bench.picker.upload.value = (upload_item("my dog.jpg", data),)
    assert bench.picker.source == "upload my dog.jpg"
    assert "dog" in [c.name for c in bench.result.present_classes()]
    good, runs, picture = bench.result, bench.invocations, bench.viewer.value
    bench.picker.upload.value = (upload_item("notes.txt", b"shopping list: milk, eggs\n", "text/plain"),)
    assert "notes.txt" in bench.picker.status.value and "is not an image" in bench.picker.status.value
    assert "notes.txt" in bench.status.value and "showing the last good result" in bench.status.value
    assert bench.result is good and bench.invocations == runs and bench.viewer.value == picture
    bench.viewer.alpha_slider.value = 0.35  # something else happens, then the same bad file again
    bench.status.value = ""
    bench.picker.upload.value = (upload_item("notes.txt", b"shopping list: milk, eggs\n", "text/plain"),)
    assert "notes.txt" in bench.status.value and bench.result is good


def test_path_field(bench, tmp_path):
    bench.picker.path.value = str(sample_path("bird"))
    assert "bird" in [c.name for c in bench.result.present_classes()]
    good = bench.result
    bench.picker.path.value = str(tmp_path / "missing.jpg")
    assert "image not found" in bench.status.value and bench.result is good


def test_threads_and_xnnpack_rerun_with_cached_segmenters(bench):
    bench.picker.buttons["cat"].click()
    reference = bench.result.labels
    bench.controls.threads.value = 1
    assert bench.result.options.num_threads == 1
    assert (bench.result.labels == reference).mean() > 0.99
    bench.controls.xnnpack.value = False
    assert bench.result.options == RuntimeOptions(num_threads=1, xnnpack=False)
    assert (bench.result.labels == reference).mean() > 0.99
    assert "1 thread, no XNNPACK" in bench.timing.table.value
    bench.controls.xnnpack.value = True
    bench.controls.threads.value = cpu_count()
    count, runs = len(bench.segmenters), bench.invocations
    bench.controls.threads.value = 1  # back to combinations seen before: the model runs, no new Segmenter
    bench.controls.threads.value = cpu_count()
    assert len(bench.segmenters) == count and bench.invocations == runs + 2
    assert bench.controls.backend.options == ("auto", *available_backends())


def test_switching_models_changes_the_class_names(bench):
    bench.picker.buttons["cityscapes"].click()
    assert "car" in [c.name for c in bench.result.present_classes()]
    bench.controls.model_dropdown.value = "deeplab-edgetpu-slim-cityscapes"
    try:
        assert bench.result.model == "deeplab-edgetpu-slim-cityscapes"
        assert bench.result.class_names == CITYSCAPES_NAMES
        present = [c.name for c in bench.result.present_classes()]
        assert {"road", "car"} <= set(present)
        assert "road" in bench.viewer.legend.value
        assert bench.result.has_scores and bench.result.scores.shape[-1] == 19
        bench.viewer.mode_buttons.value = "confidence"
        assert bench.viewer.note.value == ""  # the ArgMax model's confidence map is shown
        bench.viewer.mode_buttons.value = "overlay"
        assert bench.viewer.note.value == ""
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"
    assert bench.result.class_names[CAT] == "cat"


def test_choosing_an_ade20k_model_suggests_the_street_scene(bench):
    bench.picker.buttons["cat"].click()
    bench.controls.model_dropdown.value = "deeplabv3plus-mnv2-ade20k-int8"
    try:
        assert bench.result.model == "deeplabv3plus-mnv2-ade20k-int8"
        assert "ade20k-32 classes: try the cityscapes sample" in bench.status.value
        bench.picker.buttons["cityscapes"].click()
        assert "try the" not in bench.status.value
        assert {"road", "tree", "car"} <= {c.name for c in bench.result.present_classes()[:5]}
    finally:
        bench.controls.model_dropdown.value = "deeplabv3-starter"
        bench.picker.buttons["cat"].click()


def test_load_a_user_tflite(bench, shared):
    controls = bench.controls
    controls.model_dropdown.value = LOAD_FILE
    assert controls.load_box.layout.display == "flex"
    good = bench.result
    controls.model_upload.value = (
        upload_item("broken.tflite", b"not a flatbuffer at all", "application/octet-stream"),
    )
    assert "broken.tflite" in controls.error and "broken.tflite" in bench.status.value
    assert bench.result is good and controls.model == "deeplabv3-starter"
    controls.model_path.value = str(shared / "models" / "lite-model_deeplabv3_1_metadata_2.tflite")
    assert controls.model == "lite-model_deeplabv3_1_metadata_2.tflite"
    assert bench.result.model == "lite-model_deeplabv3_1_metadata_2.tflite"
    assert "cat" in bench.result.class_names  # labels embedded in the file
    controls.model_dropdown.value = "deeplabv3-starter"


def test_a_delegate_that_cannot_load_is_reported(bench):
    good = bench.result
    bench.controls.delegate.value = "/nonexistent/libdelegate.so"
    try:
        assert "DelegateError: could not load delegate '/nonexistent/libdelegate.so'" in bench.status.value.replace(
            "&#x27;", "'"
        )
        assert bench.result is good
    finally:
        bench.controls.delegate.value = ""
    assert "DelegateError" not in bench.status.value


def test_timing_readout_medians(bench):
    bench.repeat(4)
    medians = bench.timing.medians()
    assert set(medians) == {"preprocess_ms", "invoke_ms", "postprocess_ms", "total_ms"}
    assert 0 < medians["invoke_ms"] < medians["total_ms"]
    assert "median of" in bench.timing.table.value
    assert len(bench.timing.history[bench.timing.config]) >= 5


def test_widgets_work_on_their_own(starter):
    picker = ImagePicker(value=None, samples=["cat", "bird"])
    seen = []
    picker.observe(lambda change: seen.append(change["new"].size), names="image")
    picker.buttons["bird"].click()
    assert seen == [load_sample("bird").size] and set(picker.buttons) == {"cat", "bird"}

    controls = RuntimeControls()
    changes = []
    controls.observe(lambda change: changes.append(change["new"]), names="options")
    controls.threads.value = 1
    controls.resize_buttons.value = "pad"
    assert changes[-1].num_threads == 1 and controls.resize == "pad"
    controls.options = RuntimeOptions(num_threads=1, xnnpack=False)  # code sets the trait, the controls follow
    assert controls.xnnpack.value is False

    image = load_sample("bird")
    result = starter.segment(image)
    viewer = MaskViewer(result, image, mode="mask")
    assert viewer.value[:3] == b"\xff\xd8\xff" and "bird" in viewer.legend.value
    viewer.set_visible(3, False)
    assert viewer.hidden == (3,)

    readout = TimingReadout(window=3)
    for _ in range(5):
        readout.record(starter.segment(image))
    assert len(readout.history[readout.config]) == 3
    assert readout.timings.invoke_ms > 0
