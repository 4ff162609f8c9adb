"""The architecture widgets on the real starter model: display-only changes never re-run it."""

from __future__ import annotations

import pytest

from deeplab_widgets.widgets.architecture import AsppExplorer, AtrousExplorer, LayerBrowser


@pytest.mark.slow
def test_layer_browser_runs_once_per_photo_and_reports_errors():
    browser = LayerBrowser("deeplabv3-starter", "bird")
    assert browser.probe.invocations == 1
    assert browser.layer.value == browser.graph.summary.atrous_start
    assert "<b>stride / rate</b></td><td>1 / 2<" in browser.info.value
    first = bytes(browser.picture.value)
    assert first.startswith(b"\x89PNG")
    browser.layer.value = 4
    browser.channels.value = 4
    assert browser.probe.invocations == 1  # display-only
    assert bytes(browser.picture.value) != first
    assert "1x65x65x48" in browser.info.value
    kept = browser.activations
    assert not browser.set_image("/no/such/photo.jpg")
    assert "not found" in browser.status.value and browser.activations is kept
    assert browser.set_image("cat") and browser.probe.invocations == 2


def test_atrous_explorer_reports_receptive_field_and_gridding():
    explorer = AtrousExplorer(None, kernel=3, rate=2, layers=3)
    assert "receptive field 13 px (rate 1: 7 px)" in explorer.status.value
    assert "gridding" in explorer.status.value
    explorer.rate.value = 1
    assert "receptive field 7 px" in explorer.status.value and "gridding" not in explorer.status.value


def test_aspp_explorer_uses_the_real_graph():
    explorer = AsppExplorer("deeplabv3-mnv2-voc", rates=(6, 12, 18))
    assert "encoder map 33x33" in explorer.model_info.value
    assert "image pooling, 1x1 conv" in explorer.model_info.value
    assert explorer.feature_size.value == 33
    explorer.rates[2].value = 32
    assert "rate 32:" in explorer.status.value and "centre only at" in explorer.status.value


def test_architecture_figures_from_the_real_graph():
    from deeplab_widgets.analysis.concepts import output_stride_costs
    from deeplab_widgets.analysis.deeplab import read_graph
    from deeplab_widgets.viz import architecture as va

    g = read_graph("deeplabv3-starter")
    fig = va.plot_block_diagram(g)
    title = fig.axes[0].get_title()
    assert "output stride 8" in title and "atrous rates 2, 4" in title and "no decoder" in title
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {"backbone", "atrous", "aspp", "logits"}
    rates = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("r")]
    assert rates == ["r2"] * 7 + ["r4"] * 3
    bars = va.plot_output_stride_costs(output_stride_costs(g), g.summary.name)
    assert [t.get_text() for t in bars.axes[0].texts] == ["0.73", "0.23", "0.13"]
    assert va.figure_png(va.plot_gridding([(2, 2, 2)])).startswith(b"\x89PNG")


def test_atrous_explorer_draws_a_rate_in_cells_of_the_chosen_output_stride():
    from PIL import Image

    from deeplab_widgets import OptionsError
    from deeplab_widgets.viz import architecture as va

    photo = Image.new("RGB", (513, 513), "white")
    explorer = AtrousExplorer(photo, kernel=3, rate=6, layers=2, output_stride=16)
    assert explorer.status.value.count("193 px on a map of output stride 16") == 1
    assert "receptive field 25 cells = 385 input px" in explorer.status.value
    explorer.output_stride.value = 1
    assert "spread over 13 px;" in explorer.status.value
    legend = [
        t.get_text()
        for t in va.plot_sampling_grid(3, 6, image=photo, output_stride=16).axes[0].get_legend().get_texts()
    ]
    assert legend == ["taps", "span 193 px", "receptive field 193 px"]
    with pytest.raises(OptionsError, match="unknown output_stride 3; choose one of: 1, 4, 8, 16, 32"):
        AtrousExplorer(None, output_stride=3)
