"""Visualisation on real results: colours, overlays, boundaries, hiding, legends, heat maps and the figure."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import NoScoresError, OptionsError, Segmenter, load_sample
from deeplab_widgets.core.labels import CONTRAST_COLORS
from deeplab_widgets.viz import (
    MODES,
    DisplayOptions,
    Renderer,
    boundaries,
    colorize,
    draw_boundaries,
    encode,
    heat_image,
    heat_values,
    legend_entries,
    legend_html,
    no_scores_message,
    overlay,
    overlay_image,
    plot_segmentation,
    render,
    side_by_side,
)

CAT = 8  # VOC class id


@pytest.fixture(scope="module")
def cat():
    return load_sample("cat")


@pytest.fixture(scope="module")
def cat_result(starter, cat):
    return starter.segment(cat, scores=True)


@pytest.fixture(scope="module")
def argmax_result(segmenters, cat):
    return segmenters["deeplabv3-mnv2-dm05-voc"].segment(cat)


def test_colorize_is_the_palette_lookup(cat_result):
    colours = colorize(cat_result.labels, cat_result.colormap)
    assert colours.shape == (*cat_result.labels.shape, 3)
    np.testing.assert_array_equal(colours, cat_result.colormap[cat_result.labels])
    assert tuple(colours[cat_result.labels == CAT][0]) == (64, 0, 0)  # DeepLab's PASCAL colour of "cat"


def test_overlay_alpha_ends_and_middle(cat, cat_result):
    photo = np.asarray(cat)
    mask = cat_result.colormap[cat_result.labels]
    np.testing.assert_array_equal(overlay(cat, cat_result, 0.0, palette="dataset"), photo)
    np.testing.assert_array_equal(overlay(cat, cat_result, 1.0, palette="dataset"), mask)
    half = overlay(cat, cat_result, 0.5, palette="dataset").astype(int)
    expected = (photo.astype(int) + mask) / 2
    assert np.abs(half - expected).max() <= 1


def test_default_overlay_leaves_the_background_clear_and_tints_the_cat_in_a_contrast_colour(cat, cat_result):
    photo = np.asarray(cat).astype(int)
    shown = overlay(cat, cat_result, 0.6).astype(int)
    background, is_cat = cat_result.labels == 0, cat_result.labels == CAT
    np.testing.assert_array_equal(shown[background], photo[background])
    colour = CONTRAST_COLORS[CAT - 1]  # the 8th coloured class: background takes no colour
    expected = 0.4 * photo[is_cat] + 0.6 * np.array(colour)
    assert np.abs(shown[is_cat] - expected).max() <= 1


def test_overlay_rejects_an_image_of_another_size(cat_result):
    with pytest.raises(ValueError, match=r"image is 100x80 but the mask is 512x341"):
        overlay(np.zeros((80, 100, 3), np.uint8), cat_result)


def test_hidden_class_is_not_coloured(cat, cat_result):
    photo = np.asarray(cat)
    out = overlay(cat, cat_result, 1.0, hidden={CAT}, palette="dataset")
    is_cat = cat_result.labels == CAT
    np.testing.assert_array_equal(out[is_cat], photo[is_cat])
    np.testing.assert_array_equal(out[~is_cat], cat_result.colormap[cat_result.labels][~is_cat])


def test_boundaries_are_thin_and_only_between_classes(cat_result):
    labels = cat_result.labels
    edges = boundaries(labels)
    assert 0 < edges.sum() < 0.05 * edges.size
    # every edge pixel differs from its left or upper neighbour, and no pixel inside a region is marked
    differs = np.zeros_like(edges)
    differs[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    differs[1:] |= labels[1:] != labels[:-1]
    np.testing.assert_array_equal(edges, differs)
    # between the cat and the background only: hiding both leaves no edge at all
    present = [c.id for c in cat_result.present_classes()]
    assert not boundaries(labels, hidden=present).any()


def test_draw_boundaries_paints_only_the_edges(cat, cat_result):
    drawn = np.asarray(draw_boundaries(cat, cat_result.labels))
    edges = boundaries(cat_result.labels)
    assert (drawn[edges] == 255).all()
    np.testing.assert_array_equal(drawn[~edges], np.asarray(cat)[~edges])


def test_side_by_side_layout(cat, starter):
    pair = side_by_side(cat, cat, gap=8)
    assert pair.size == (2 * cat.width + 8, cat.height)
    shown = render(cat, starter.segment(cat), mode="side by side")  # at the photo's scale, as the viewer draws it
    assert shown.size == (2 * cat.width + 8, cat.height)
    assert (np.asarray(shown)[:, cat.width : cat.width + 8] == 255).all()  # a white gap


def test_boundaries_mode_draws_white_edges_over_the_overlay(cat, cat_result):
    shown = np.asarray(render(cat, cat_result, mode="boundaries", alpha=0.4, hidden={0}))
    edges = boundaries(cat_result.labels, {0})
    assert edges.sum() > 100 and (shown[edges] == 255).all()
    plain = overlay(cat, cat_result, 0.4, {0})
    assert np.abs(shown[~edges].astype(int) - plain[~edges]).max() <= 1


def test_legend_lists_present_classes_with_colour_and_share(cat_result):
    assert legend_entries(cat_result)[1].color == CONTRAST_COLORS[CAT - 1]  # the default palette's colour
    entries = legend_entries(cat_result, hidden={0}, palette="dataset")
    names = [e.name for e in entries]
    assert names[:2] == ["background", "cat"]
    assert abs(sum(e.fraction for e in entries) - 1.0) < 1e-9
    cat_entry = entries[1]
    assert (cat_entry.hex, cat_entry.visible, entries[0].visible) == ("#400000", True, False)
    assert 0.3 < cat_entry.fraction < 0.45
    page = legend_html(entries)
    assert "cat" in page and "#400000" in page and "<s>background</s>" in page
    assert "aeroplane" not in page  # only classes present


def test_confidence_and_entropy_from_scores(cat_result):
    conf = heat_values(cat_result, "confidence")
    ent = heat_values(cat_result, "entropy")
    assert conf.shape == ent.shape == cat_result.scores.shape[:2]
    assert conf.min() >= 0.0 and conf.max() <= 1.0 and ent.min() >= 0.0 and ent.max() <= 1.0
    assert np.median(conf) > 0.9  # the starter model is sure about most of the cat photo
    # uncertainty sits where confidence is low
    assert np.corrcoef(conf.ravel(), ent.ravel())[0, 1] < -0.8
    heat = heat_image(cat_result, "confidence")
    assert heat.size == (cat_result.labels.shape[1], cat_result.labels.shape[0])


def test_results_without_scores_say_plainly_how_to_get_them(argmax_result, starter, cat):
    with pytest.raises(
        NoScoresError, match=r"No scores in this result of deeplabv3-mnv2-dm05-voc: segment with scores"
    ):
        heat_values(argmax_result)
    with pytest.raises(NoScoresError, match=r"No scores in this result of deeplabv3-starter"):
        heat_values(starter.segment(cat))


def test_argmax_models_have_confidence_maps_too(segmenters, cat):
    conf = heat_values(segmenters["deeplabv3-mnv2-dm05-voc"].segment(cat, scores=True))
    assert conf.min() >= 0 and conf.max() <= 1 and np.median(conf) > 0.8


def test_render_covers_every_mode_and_refuses_heat_maps_without_scores(cat, cat_result, argmax_result):
    for mode in MODES:
        out = render(cat, cat_result, mode=mode, alpha=0.5)
        width = 2 * cat.width + 8 if mode == "side by side" else cat.width
        assert out.size == (width, cat.height) and out.mode == "RGB"
    with pytest.raises(NoScoresError, match="^No scores in this result of deeplabv3-mnv2-dm05-voc"):
        render(cat, argmax_result, mode="entropy")
    with pytest.raises(OptionsError, match="unknown display mode 'sepia'"):
        render(cat, cat_result, mode="sepia")
    with pytest.raises(OptionsError, match="unknown palette 'sepia'; choose one of: contrast, dataset"):
        render(cat, cat_result, palette="sepia")


def test_mask_mode_draws_the_clear_background_black_and_the_coarse_scores_give_the_same_heat_map(
    starter, cat, cat_result
):
    mask = np.asarray(render(cat, cat_result, mode="mask"))
    assert (mask[cat_result.labels == 0] == 0).all()
    assert (mask[cat_result.labels == CAT] == CONTRAST_COLORS[CAT - 1]).all()
    coarse = starter.segment(cat, scores="coarse")
    for mode in ("confidence", "entropy"):  # the same probabilities, to float rounding: one level at most
        from_coarse, from_scores = (np.asarray(render(cat, r, mode=mode), int) for r in (coarse, cat_result))
        assert np.abs(from_coarse - from_scores).max() <= 1


def test_the_old_renderer_and_options_argument_still_work_with_a_warning(cat, cat_result, argmax_result):
    with pytest.warns(DeprecationWarning, match="viz.Renderer is deprecated"):
        renderer = Renderer()
    shown = renderer.render(cat, argmax_result, DisplayOptions("confidence"))
    assert shown.note.startswith("No scores in this result")
    np.testing.assert_array_equal(np.asarray(shown.image), np.asarray(render(cat, argmax_result)))
    with pytest.warns(DeprecationWarning, match=r"render\(image, result, DisplayOptions\(...\)\) is deprecated"):
        old = render(cat, cat_result, DisplayOptions("mask"))
    np.testing.assert_array_equal(np.asarray(old), np.asarray(render(cat, cat_result, mode="mask")))


def test_encode_formats(cat):
    assert encode(cat)[:3] == b"\xff\xd8\xff"
    assert encode(cat, "png")[:4] == b"\x89PNG"
    assert Image.open(io.BytesIO(encode(cat))).size == cat.size


def test_plot_segmentation_names_the_present_classes(cat, cat_result):
    fig = plot_segmentation(cat, cat_result)
    axes = fig.get_axes()
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == ["input image", "segmentation map", "segmentation overlay", "classes"]
    ticks = [t.get_text() for t in axes[3].get_yticklabels()]
    assert ticks[0].startswith("background") and ticks[1].startswith("cat")
    assert len(ticks) == len(cat_result.present_classes())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"
    hidden = [t.get_text() for t in plot_segmentation(cat, cat_result, hidden={0}).get_axes()[3].get_yticklabels()]
    assert not any(t.startswith("background") for t in hidden)


def test_every_drawing_function_takes_the_image_first_and_the_old_order_warns(cat, cat_result):
    from deeplab_widgets.viz.plot import plot_display_modes
    from deeplab_widgets.widgets.viewer_payload import viewer_payload

    for draw in (plot_segmentation, plot_display_modes, viewer_payload):
        name = draw.__name__
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            draw(cat, cat_result)  # the image first: no warning
        with pytest.warns(DeprecationWarning, match=rf"{name}\(result, image\) is deprecated.*{name}\(image, result\)"):
            draw(cat_result, cat)
    assert np.array_equal(np.asarray(overlay(cat, cat_result)), np.asarray(overlay_image(cat, cat_result)))


def test_heat_image_takes_a_size_and_a_plain_tuple_is_read_as_width_height_with_a_warning(starter, cat):
    from deeplab_widgets import Size

    result = starter.segment(cat, scores=True)
    assert heat_image(result, size=Size(100, 200)).size == (200, 100)
    with pytest.warns(DeprecationWarning, match=r"size=...\) as a plain \(width, height\) tuple is deprecated"):
        assert heat_image(result, size=(200, 100)).size == (200, 100)


def test_core_import_loads_neither_ipywidgets_nor_matplotlib():
    code = (
        "import sys, deeplab_widgets;"
        "print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules);"
        "from deeplab_widgets import Workbench, plot_segmentation;"
        "print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False", "True", "True"]


def test_described_figure_carries_alt_text_into_its_html():
    from deeplab_widgets.analysis.concepts import boundary_errors
    from deeplab_widgets.viz.described import described
    from deeplab_widgets.viz.stride import plot_band_errors

    labels = np.zeros((20, 20), np.uint8)
    labels[:, 10:] = 1
    fig = plot_band_errors({"shifted": boundary_errors(np.roll(labels, 2, axis=1), labels)}, title="toy")
    shown = described(fig, 'Error "rate" by band')
    page = shown._repr_html_()
    assert page.startswith('<img src="data:image/png;base64,iVBOR') and 'alt="Error &quot;rate&quot; by band"' in page
    with pytest.raises(OptionsError, match="description"):
        described(fig, " ")


def test_display_modes_figure_titles_every_panel_and_names_the_classes(starter):
    from deeplab_widgets.viz.plot import plot_display_modes

    cat = load_sample("cat")
    fig = plot_display_modes(cat, starter.segment(cat, scores=True))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split(":")[0] for t in titles] == ["overlay", "mask", "boundaries", "confidence", "entropy"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(label.startswith("cat ") for label in labels) and any(
        label.startswith("background ") for label in labels
    )
    assert any(ax.get_xlabel().startswith("heat value") for ax in fig.axes)  # the colour bar of the heat maps


@pytest.mark.parametrize("modes", [("overlay", "mask", "boundaries", "confidence", "entropy"), ("overlay", "entropy")])
def test_display_modes_figure_title_stays_clear_of_the_panel_titles(starter, modes):
    from deeplab_widgets.viz.plot import plot_display_modes
    from deeplab_widgets.viz.render import figure_png

    cat = load_sample("cat")
    fig = plot_display_modes(cat, starter.segment(cat, scores=True), modes=modes)
    figure_png(fig)  # lays the figure out as the notebooks show it
    top = next(t for t in fig.texts if t.get_text() == fig.get_suptitle()).get_window_extent()
    panels = [ax.title.get_window_extent() for ax in fig.axes if ax.get_title()]
    assert len(panels) == len(modes)
    gaps_pt = [(top.y0 - panel.y1) * 72 / fig.dpi for panel in panels]
    assert min(gaps_pt) >= 3, gaps_pt  # the text boxes leave out accents and descenders: 3 pt of air at least


def test_a_users_argmax_model_has_scores_and_a_result_without_them_says_how_to_get_them(shared, cat):
    # A user's ArgMax model is not in the zoo: its scores come from the ArgMax's input all the same.
    model = (shared / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite").read_bytes()
    seg = Segmenter(model)
    scored = seg.segment(cat, scores=True)
    assert scored.output_kind == "class_ids" and scored.scores is not None and scored.scores.shape[-1] == 21
    assert heat_values(scored).max() <= 1.0
    result = seg.segment(cat)
    assert no_scores_message(result) == (
        "No scores in this result of uploaded model: segment with scores=True for confidence and entropy "
        "(every zoo model has scores; a user's model has none only if its logits could not be found)."
    )
    with pytest.raises(NoScoresError, match=r"No scores in this result of uploaded model"):
        heat_values(result)
