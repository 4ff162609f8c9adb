"""One definition of each display mode: the browser viewer's canvas and `viz.render` agree on the same result.

Voila serves a notebook with three viewers of real results (the starter with the default palette; the starter with
the dataset palette, opacity 0.4 and "person" hidden; the 8-bit padded deeplabv3-mnv2-dm05-voc), all with coarse
scores, as the Workbench makes them. For each viewer and mode, headless Chromium draws the picture and its
"picture PNG" button saves the canvas the viewer paints at the photo's size (the same `paint` as on screen,
without zoom); `render` draws the same result over the same JPEG-decoded photo.

Tolerance, per pixel and channel: 2 levels (measured: 0 in the mask modes, whose photo is the same JPEG decode,
1 where the canvas blends at an opacity); 6 levels in the heat-map modes, whose colours are resized bilinearly
from the model's resolution (measured: at most 4, on under 0.2% of the pixels more than 2; Chromium and Pillow
place the bilinear samples alike and round their weights differently).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import Segmenter, load_sample
from deeplab_widgets.viz.render import MODES, render
from deeplab_widgets.widgets.viewer_payload import nearest_table, photo_jpeg
from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, free_port, serve, tool

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
#: Largest channel difference allowed between the browser's picture and `render`, per pixel.
TOLERANCE = 2
#: The same in the heat-map modes.
HEAT_TOLERANCE = 6
#: The viewers: (CSS class, model, display options).
VIEWS = {
    "view-default": ("deeplabv3-starter", {}),
    "view-dataset": ("deeplabv3-starter", {"palette": "dataset", "hidden": (15,), "alpha": 0.4}),
    "view-quantized": ("deeplabv3-mnv2-dm05-voc", {}),
}

CELL = """
import ipywidgets
from deeplab_widgets import Segmenter, load_sample
from deeplab_widgets.widgets import MaskViewer
image = load_sample("grace_hopper")
views = []
for css, (model, options) in {views}.items():
    view = MaskViewer(image, Segmenter(model).segment(image, scores="coarse"), **options)
    view.add_class(css)
    views.append(view)
ipywidgets.VBox(views)
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agreement")
    cell = CELL.format(views=repr(VIEWS))
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": cell}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "views.ipynb").write_text(json.dumps(notebook))
    port = free_port()
    command = [tool("voila"), "views.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    from playwright.sync_api import sync_playwright

    with serve(command, port, folder / "voila.log", folder), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{port}/", timeout=TIMEOUT_MS)
        for css in VIEWS:
            page.wait_for_selector(f".{css}[data-revision]", timeout=TIMEOUT_MS)
        yield page
        assert not errors, errors
        browser.close()


def drawn(page, css: str, mode: str, folder: Path) -> np.ndarray:
    """The picture the browser viewer `css` draws in `mode`, at the photo's size."""
    page.click(f".{css} .dlw-mode-button[data-mode='{mode}']")
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.click(f".{css} .dlw-download-overlay")
    path = folder / f"{css}-{mode.replace(' ', '_')}.png"
    info.value.save_as(path)
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


@pytest.mark.parametrize("css", list(VIEWS))
def test_the_browser_draws_every_mode_as_render_does(page, css: str, tmp_path: Path) -> None:
    model, options = VIEWS[css]
    image = load_sample("grace_hopper")
    result = Segmenter(model).segment(image, scores="coarse")
    photo = Image.open(io.BytesIO(photo_jpeg(image)))  # the photo the browser drew: the JPEG it received
    report = {}
    for mode in MODES:
        browser = drawn(page, css, mode, tmp_path)
        python = np.asarray(render(photo, result, mode=mode, **options), np.int16)
        assert browser.shape == python.shape, mode
        difference = np.abs(browser - python).max(axis=-1)
        report[mode] = int(difference.max())
        assert report[mode] <= (HEAT_TOLERANCE if mode in ("confidence", "entropy") else TOLERANCE), (mode, report)
    print(css, "largest channel difference per mode:", report)


def test_the_default_overlay_is_drawn_in_the_contrast_palette_with_a_clear_background(page, tmp_path) -> None:
    image = load_sample("grace_hopper")
    result = Segmenter("deeplabv3-starter").segment(image, scores="coarse")
    photo = np.asarray(Image.open(io.BytesIO(photo_jpeg(image))), np.int16)
    shown = drawn(page, "view-default", "overlay", tmp_path)
    background, person = result.labels == 0, result.labels == 15
    assert np.abs(shown[background] - photo[background]).max() <= TOLERANCE  # the photo itself
    from deeplab_widgets.core.labels import CONTRAST_COLORS

    tint = 0.4 * photo[person] + 0.6 * np.array(CONTRAST_COLORS[14])  # person: the 15th coloured class
    assert np.abs(shown[person] - tint).max() <= TOLERANCE
    legend = page.locator(".view-default .dlw-legend-row[data-class-id='0'] .dlw-swatch")
    assert "dlw-clear" in legend.get_attribute("class")  # the legend says so too


def test_the_readout_gives_the_model_resolution_top3_above_half_a_percent(page) -> None:
    image = load_sample("grace_hopper")
    result = Segmenter("deeplabv3-mnv2-dm05-voc").segment(image, scores="coarse")
    probabilities = result.probabilities()  # at the model's resolution: 513x438 for this padded photo
    h, w = probabilities.shape[:2]
    canvas = page.locator(".view-quantized .dlw-canvas")
    canvas.scroll_into_view_if_needed()
    shown = 0
    for x, y in [(280, 200), (40, 100), (150, 420), (430, 330), (260, 560), (90, 480)]:
        box = canvas.evaluate(
            "c => { const r = c.getBoundingClientRect(); return [r.left, r.top, +c.dataset.scale, +c.dataset.offsetX, +c.dataset.offsetY]; }"
        )
        left, top, scale, ox, oy = box
        page.mouse.move(left + ox + (x + 0.5) * scale, top + oy + (y + 0.5) * scale)
        items = page.locator(".view-quantized .dlw-readout-prob").all_inner_texts()
        p = probabilities[nearest_table(h, image.height)[y], nearest_table(w, image.width)[x]]  # `restore`'s pixel
        expected = [(result.name_of(int(k)), round(float(p[k]) * 100)) for k in np.argsort(-p)[:3] if p[k] > 0.005]
        assert [(t.rsplit(" ", 1)[0], int(t.rsplit(" ", 1)[1].rstrip("%"))) for t in items] == expected, (x, y)
        shown += len(items) < 3  # a pixel where fewer than three classes pass 0.5%
    assert shown, "some pixels list fewer than three classes: those under 0.5% are left out"
