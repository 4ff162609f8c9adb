"""The Workbench's Quantize tab: run, report, use the model, and what app mode allows (checked in the kernel)."""

from __future__ import annotations

import pytest

from deeplab_widgets import RuntimeControls, Segmenter, load_model, load_sample
from deeplab_widgets.widgets.app_policy import AppPolicy
from deeplab_widgets.widgets.quantize_panel import MAX_QUANTIZE_ENV, QuantizePanel


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_run_quantizes_the_chosen_model_measures_it_and_use_puts_it_in_the_model_list() -> None:
    controls = RuntimeControls("deeplabv3-starter")
    panel = QuantizePanel(controls, policy=AppPolicy())
    panel.recipe.value, panel.count.value = "int8", 2
    assert not panel.count.disabled and panel.use_button.disabled
    result = panel.run()
    assert result is not None and panel.result is result and result.recipe == "int8"
    assert panel.progress.value == panel.progress.max and panel.progress_label.value == "done"
    rows = panel.report.rows
    assert [r.variant for r in rows] == ["float", "int8"] and rows[1].agreement >= 0.97
    assert ">int8</td>" in panel.table.value and ">0.95</td>" in panel.table.value  # the size in MB
    assert "peak RAM" not in panel.table.value and "segment()" not in panel.table.value  # not measured here
    assert "calibrated on 2 photos from samples" in panel.status.value
    assert panel.use()
    assert controls.model == "deeplabv3-starter int8"
    segmenter = Segmenter(controls.model_source())
    assert segmenter.spec.name == "deeplabv3-starter int8"
    assert "cat" in [c.name for c in segmenter.segment(load_sample("cat")).present_classes()]


def test_the_run_button_quantizes_in_the_background_while_the_kernel_segments() -> None:
    panel = QuantizePanel(RuntimeControls("deeplabv3-starter"), policy=AppPolicy())
    panel.recipe.value, panel.count.value = "int16x8", 2  # the slowest recipe to measure: seconds
    panel.run_button.click()
    assert panel.running and panel.run_button.disabled
    assert not panel.start(), "one run at a time"
    cat = Segmenter("deeplabv3-starter").segment(load_sample("cat"))  # the Segment tab's work goes on meanwhile
    assert "cat" in [c.name for c in cat.present_classes()] and panel.running
    result = panel.wait(300)
    assert not panel.running and result is not None and result.recipe == "int16x8"
    assert not panel.run_button.disabled and panel.progress_label.value == "done" and panel.runs == 1


def test_recipes_without_calibration_switch_the_photo_controls_off() -> None:
    panel = QuantizePanel(RuntimeControls("deeplabv3-starter"), policy=AppPolicy())
    panel.recipe.value = "weight-only-int8"
    assert panel.count.disabled and panel.calibration.disabled
    panel.recipe.value = "int16x8"
    assert not panel.count.disabled


def test_an_already_quantized_model_is_refused_and_the_last_result_stays() -> None:
    controls = RuntimeControls("deeplabv3-starter")
    panel = QuantizePanel(controls, policy=AppPolicy())
    panel.recipe.value = "weight-only-int8"
    first = panel.run()
    controls.model_dropdown.value = "deeplabv3-mnv2-voc"
    assert "deeplabv3-mnv2-voc" in panel.model_note.value
    assert panel.run() is None
    assert "AlreadyQuantizedError" in panel.error and "already quantized" in panel.status.value
    assert panel.result is first and "the last result stays" in panel.status.value
    assert not panel.run_button.disabled


def test_app_mode_quantizes_zoo_models_only() -> None:
    controls = RuntimeControls("deeplabv3-starter", policy=AppPolicy(app_mode=True))
    starter_bytes = load_model("deeplabv3-starter").content
    assert controls.load_file(starter_bytes, "my-model.tflite")  # a visitor's upload
    panel = QuantizePanel(controls, policy=AppPolicy(app_mode=True))
    panel.recipe.value = "weight-only-int8"
    assert panel.run() is None
    assert "AccessDeniedError: this app quantizes zoo models only" in panel.error
    assert panel.runs == 0 and panel.result is None  # refused before the quantizer saw the upload


def test_app_mode_refuses_at_the_button_before_any_thread_starts(monkeypatch) -> None:
    monkeypatch.setenv(MAX_QUANTIZE_ENV, "0")
    panel = QuantizePanel(RuntimeControls("deeplabv3-starter"), policy=AppPolicy(app_mode=True))
    panel.run_button.click()
    assert not panel.running and panel.runs == 0 and not panel.run_button.disabled
    assert "this app allows 0 quantizations per visitor" in panel.status.value and panel.error


def test_app_mode_counts_quantizations_against_the_visitor_limit(monkeypatch) -> None:
    monkeypatch.setenv(MAX_QUANTIZE_ENV, "1")
    panel = QuantizePanel(RuntimeControls("deeplabv3-starter"), policy=AppPolicy(app_mode=True))
    panel.recipe.value = "weight-only-int8"
    assert panel.run() is not None
    assert panel.run() is None
    assert "allows 1 quantizations per visitor" in panel.error


def test_the_workbench_has_a_quantize_tab_on_its_own_controls() -> None:
    from deeplab_widgets import Workbench

    bench = Workbench(image=None, policy=AppPolicy())
    assert bench.tabs.titles[-1] == "Quantize"
    assert bench.quantize_panel.controls is bench.controls
