"""The VideoPlayer in headless Chromium: Voila serves a one-cell notebook with the player on the cockatoo clip; a
user seeks with the frame slider and explores the paused frame with the pointer (the browser viewer's readout)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, chromium, free_port, serve, serve_app, tool, watched_page
from tests.test_browser import hover, revision, view, wait_for_result, wait_for_scale_change
from tests.test_video import short_clip

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 120_000
PLAYER = ".dlw-video-player"
VIEWER = ".dlw-video-player .dlw-viewer"
FRAME = 200  # the bird fills the frame's middle; the model calls it "bird" there
DISPLAY = (640, 360)  # the player's display size for the 1280x720 clip


@pytest.fixture(scope="module")
def player_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video-player")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            'from deeplab_widgets import VideoPlayer\n\nVideoPlayer("cockatoo", "deeplabv3-starter")'
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "player.ipynb")
    port = free_port()
    command = [tool("voila"), str(folder / "player.ipynb"), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    with serve(command, port, folder / "voila.log", folder):
        yield f"http://127.0.0.1:{port}/"


def inside(mask: np.ndarray, margin: int = 6) -> tuple[int, int]:
    """(x, y) of the pixel of `mask` nearest its centroid whose whole (2 margin + 1)^2 neighbourhood is in it."""
    h, w = mask.shape
    core = np.zeros_like(mask)
    core[margin : h - margin, margin : w - margin] = True
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            core &= np.roll(mask, (dy, dx), axis=(0, 1))
    ys, xs = np.nonzero(core)
    assert len(xs), "no pixel deep inside the mask"
    cy, cx = np.nonzero(mask)
    best = np.argmin((xs - cx.mean()) ** 2 + (ys - cy.mean()) ** 2)
    return int(xs[best]), int(ys[best])


def on_display(x: int, y: int, shape: tuple[int, int]) -> tuple[int, int]:
    """A class-map pixel (model resolution) -> the display pixel at its centre."""
    h, w = shape
    return int((x + 0.5) * DISPLAY[0] / w), int((y + 0.5) * DISPLAY[1] / h)


def test_seek_then_hover_over_the_cockatoo_reads_bird(player_url: str, starter, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from deeplab_widgets.workflows.video import segment_video

    (expected,) = list(segment_video("cockatoo", starter, start=FRAME, limit=1, progress=False))
    names = expected.segmentation.class_names
    bird = inside(expected.labels == names.index("bird"))
    background = inside(expected.labels == names.index("background"), margin=3)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(player_url, timeout=TIMEOUT_MS)
            page.wait_for_selector(f"{VIEWER}[data-revision='1']", timeout=TIMEOUT_MS)
            page.wait_for_selector(f"{PLAYER} .dlw-video-fps >> text=frame 0 at 0.00 s", timeout=TIMEOUT_MS)

            # Seek as a user can: type the frame into the slider's readout.
            readout = page.locator(f"{PLAYER} .dlw-video-frame .widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(FRAME))
            page.keyboard.press("Enter")
            page.wait_for_selector(f"{PLAYER} .dlw-video-fps >> text=frame {FRAME} at 10.00 s", timeout=TIMEOUT_MS)
            page.wait_for_selector(f"{VIEWER}[data-revision='2']", timeout=TIMEOUT_MS)
            page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=bird", timeout=TIMEOUT_MS)

            text = hover(page, *on_display(*bird, expected.labels.shape), selector=VIEWER)
            assert "bird" in text.splitlines()[0], text
            assert re.search(r"bird \d+%", text), "the paused frame's readout gives the top classes' probabilities"
            text = hover(page, *on_display(*background, expected.labels.shape), selector=VIEWER)
            assert "background" in text.splitlines()[0], text

            fit = view(page, VIEWER)["scale"]
            page.click(f"{VIEWER} .dlw-zoom-in")
            wait_for_scale_change(page, fit, VIEWER)
            assert view(page, VIEWER)["scale"] > fit * 1.4
            text = hover(page, *on_display(*bird, expected.labels.shape), selector=VIEWER)
            assert "bird" in text.splitlines()[0], "the readout follows the zoom"
        finally:
            page.screenshot(path=str(tmp_path / "video_player.png"), full_page=True)
            browser.close()
    assert not errors


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The Workbench served as `make app` serves it (app mode)."""
    with serve_app(tmp_path_factory.mktemp("video-app")) as (url, _):
        yield url


def legend_names(page, selector: str) -> set[str]:
    return set(page.eval_on_selector_all(f"{selector} .dlw-legend .dlw-name", "els => els.map(e => e.textContent)"))


def test_the_video_tab_follows_the_model_chosen_in_the_segment_tab(app_url: str, tmp_path: Path) -> None:
    from deeplab_widgets.core.labels import CITYSCAPES_NAMES

    with chromium() as browser, watched_page(browser, screenshot=tmp_path / "video-follows.png") as (page, errors):
        page.goto(app_url, timeout=TIMEOUT_MS)
        shown = wait_for_result(page)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Video")
        video = ".dlw-workbench .dlw-video-viewer"
        first = wait_for_result(page, 0, video)
        page.wait_for_selector(".dlw-video-model >> text=deeplabv3-starter", timeout=TIMEOUT_MS)
        assert "model deeplabv3-starter" in page.inner_text(".dlw-video-about")

        page.click(".dlw-workbench .lm-TabBar-tab >> text=Segment")
        labels = page.eval_on_selector_all(".dlw-model select option", "os => os.map(o => o.label)")
        cityscapes = next(label for label in labels if label.startswith("deeplab-edgetpu-slim-cityscapes"))
        page.locator(".dlw-model select").first.select_option(label=cityscapes)
        wait_for_result(page, shown)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Video")
        page.wait_for_selector(".dlw-video-model >> text=deeplab-edgetpu-slim-cityscapes", timeout=TIMEOUT_MS)
        wait_for_result(page, first, video)  # the frame on screen, segmented again with the new model
        page.wait_for_selector(".dlw-video-about >> text=model deeplab-edgetpu-slim-cityscapes", timeout=TIMEOUT_MS)
        names = legend_names(page, video)
        assert names and names <= set(CITYSCAPES_NAMES), names
    assert not errors


def test_an_uploaded_video_is_segmented_with_progress_and_played_in_the_app(
    app_url: str, shared: Path, tmp_path: Path
) -> None:
    clip = short_clip(shared / "video" / "cockatoo.mp4", tmp_path / "my_bird.mkv")
    with chromium() as browser, watched_page(browser, screenshot=tmp_path / "video-upload.png") as (page, errors):
        page.goto(app_url, timeout=TIMEOUT_MS)
        wait_for_result(page)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Video")
        video = ".dlw-workbench .dlw-video-viewer"
        before = wait_for_result(page, 0, video)
        assert page.inner_text(".dlw-video-upload").strip() == "Upload video"
        page.set_input_files(".dlw-video-upload input[type=file]", str(clip))
        page.wait_for_selector(".dlw-video-about >> text=my_bird.mkv · 320x180 · 20 fps", timeout=TIMEOUT_MS)
        # While it plays: how much is segmented and the time left, and whether playback keeps up.
        page.wait_for_selector(
            ".dlw-video-progress-text >> text=/segmented \\d+ of 40 frames · about \\d+ s left/", timeout=TIMEOUT_MS
        )
        page.wait_for_selector(".dlw-video-fps >> text=/fps · (real time|slower than real time)/", timeout=TIMEOUT_MS)
        page.wait_for_selector(".dlw-video-fps >> text=frame 39 at 1.95 s", timeout=TIMEOUT_MS)
        page.wait_for_selector(".dlw-video-play >> text=Play", timeout=TIMEOUT_MS)  # the end: paused
        assert revision(page, video) > before + 30, "every frame was drawn"
        page.wait_for_selector(f"{video} .dlw-legend >> text=bird", timeout=TIMEOUT_MS)
        assert page.inner_text(".dlw-video-status").strip() == ""
    assert not errors
