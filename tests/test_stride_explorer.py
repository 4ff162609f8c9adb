"""The Output stride explorer and its Workbench tab, driven as a user (or a visitor of the app) would."""

from __future__ import annotations

import pytest

from deeplab_widgets import OutputStrideExplorer, RuntimeOptions, Workbench, load_model
from deeplab_widgets.widgets.app_policy import AppPolicy
from deeplab_widgets.widgets.workbench import STRIDE_TAB

OPTIONS = RuntimeOptions(num_threads=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path / "cache"))


def test_changing_the_stride_derives_segments_and_reports_the_cost() -> None:
    explorer = OutputStrideExplorer("deeplabv3-starter", "cat", options=OPTIONS)
    assert explorer.stride.value == 8 and explorer.size.value == 257 and list(explorer.stride.options) == [8, 16, 32]
    assert "100.0%" in explorer.table.value and "cat" in explorer.table.value and "33x33" in explorer.table.value
    explorer.stride.value = 16
    assert explorer.derived is not None and explorer.derived.feature_size == (17, 17)
    assert "17x17" in explorer.table.value and "<td style='padding:2px 8px'>0.23</td>" in explorer.table.value
    assert "cat" in {c.name for c in explorer.result.present_classes()}
    assert explorer.status.value.count("deeplabv3-starter OS 16 257px") == 1
    explorer.size.value = 321
    assert explorer.derived.input_size == (321, 321) and "21x21" in explorer.table.value


def test_a_refused_choice_keeps_the_last_good_result() -> None:
    explorer = OutputStrideExplorer("deeplabv3-starter", "bird", options=OPTIONS)
    good = explorer.result
    explorer.stride.options = [4, 8, 16]  # what a crafted message could ask for
    explorer.stride.value = 4
    assert explorer.result is good
    assert "OptionsError: output stride must be one of 8, 16, 32, not 4 (showing the last good result)" in (
        explorer.status.value
    )


def test_app_mode_derives_zoo_models_only() -> None:
    app = AppPolicy(app_mode=True)
    uploaded = load_model(load_model("deeplabv3-starter").content)  # the same file, uploaded: not a zoo model
    explorer = OutputStrideExplorer(uploaded, "cat", options=OPTIONS, policy=app)
    assert explorer.result is None
    assert "AccessDeniedError: this app derives zoo models only" in explorer.status.value
    zoo_model = OutputStrideExplorer("deeplabv3-mnv2-dm05-voc", "cat", options=OPTIONS, policy=app)
    assert zoo_model.result is not None and list(zoo_model.stride.options) == [8, 16, 32]


def test_workbench_tab_follows_the_model_only_while_open() -> None:
    bench = Workbench("deeplabv3-starter", "cat", options=OPTIONS)
    assert bench.stride_explorer is None  # nothing derived until the tab opens
    bench.tabs.selected_index = STRIDE_TAB
    explorer = bench.stride_explorer
    assert explorer is not None and explorer.result is not None and explorer.stride.value == 8
    bench.controls.model = "deeplabv3-mnv2-dm05-voc"
    assert explorer.stride.value == 16 and explorer.size.value == 513
    assert explorer.derived is not None and explorer.derived.source == "deeplabv3-mnv2-dm05-voc"
