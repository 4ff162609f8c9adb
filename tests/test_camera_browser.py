"""The live camera widget in headless Chromium: a fake camera plays the cockatoo clip (converted to Y4M
here with PyAV), Voila and JupyterLab serve tests/camera_app.ipynb, and the class maps the kernel sends
back are drawn and named in the page."""

from __future__ import annotations

import re
from pathlib import Path

import av
import pytest

from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, free_port, serve, serve_app, tool, watched_page
from tests.test_browser import run_all_in_lab, serve_lab, wait_for_result

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def fake_camera(shared: Path, tmp_path_factory) -> Path:
    """Three seconds of the cockatoo clip as 640x360 YUV 4:2:0 Y4M, the format Chromium's fake camera plays."""
    target = tmp_path_factory.mktemp("camera") / "cockatoo.y4m"
    with (
        av.open(str(shared / "video" / "cockatoo.mp4")) as src,
        av.open(str(target), "w", format="yuv4mpegpipe") as dst,
    ):
        stream = dst.add_stream("rawvideo", rate=20)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i < 40:  # the first frames flicker between dog and bird; from frame 40 the bird is steady
                continue
            if i >= 100:
                break
            dst.mux(stream.encode(frame.reformat(width=640, height=360, format="yuv420p")))
        dst.mux(stream.encode(None))
    return target


@pytest.fixture(scope="module")
def camera_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("voila-camera") / "voila.log"
    command = [tool("voila"), str(ROOT / "tests" / "camera_app.ipynb"), "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1"]  # fmt: skip
    with serve(command, port, log, ROOT / "tests"):
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def camera_lab_url(tmp_path_factory):
    yield from serve_lab(ROOT / "tests" / "camera_app.ipynb", tmp_path_factory.mktemp("lab-camera"))


def launch(playwright, *extra: str):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: install Debian's package (`apt-get install chromium`)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *extra])


def fake_camera_browser(playwright, clip: Path):
    return launch(
        playwright,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    )


def check_live_segmentation(page, where: str) -> None:
    """The widget on `page` names the bird, reports fps and round trip, and draws the class map over the video."""
    page.wait_for_function(
        "() => (document.querySelector('.dlw-camera-classes')?.dataset.names || '').split(',').includes('bird')",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => /^[1-9][0-9.]* fps$/.test(document.querySelector('.dlw-camera-fps')?.textContent || '')",
        timeout=TIMEOUT_MS,
    )
    status = page.text_content(".dlw-camera-status")
    fps = page.text_content(".dlw-camera-fps")
    rtt = page.text_content(".dlw-camera-rtt")
    drawn = page.evaluate(
        """() => {
            const c = document.querySelector('.dlw-camera-overlay');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let coloured = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) coloured++;
            return [c.width, c.height, coloured / (c.width * c.height)];
        }"""
    )
    print(f"camera widget in Chromium ({where}): {fps}, {rtt}")
    assert status == "Camera on."
    assert re.fullmatch(r"round trip \d+ ms \(model \d+ ms\)", rtt or "")
    width, height, coloured = drawn
    assert (width, height) == (320, 180)
    assert 0.02 < coloured < 0.9  # the bird is drawn, the background stays see-through


def test_fake_camera_frames_come_back_as_class_maps_naming_the_bird(fake_camera: Path, camera_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = fake_camera_browser(p, fake_camera)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(camera_url, timeout=TIMEOUT_MS)
        try:
            check_live_segmentation(page, "Voila")
        finally:
            browser.close()
    assert not errors


def test_fake_camera_in_jupyterlab_names_the_bird(fake_camera: Path, camera_lab_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = fake_camera_browser(p, fake_camera)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            run_all_in_lab(page, camera_lab_url, ".dlw-camera-overlay")
            check_live_segmentation(page, "JupyterLab")
            assert "Traceback" not in page.inner_text(".jp-Notebook")
            # JupyterLab can show the same widget twice ("Create New View for Output"): both views run.
            page.click(".jp-CodeCell .jp-OutputArea")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:create-output-view')")
            page.wait_for_function(
                """() => { const views = document.querySelectorAll('.dlw-camera');
                    return views.length >= 2 && [...views].every(v =>
                        v.querySelector('.dlw-camera-classes').dataset.names?.split(',').includes('bird')
                        && /^[1-9][0-9.]* fps$/.test(v.querySelector('.dlw-camera-fps').textContent)); }""",
                timeout=TIMEOUT_MS,
            )
            rtts = page.eval_on_selector_all(".dlw-camera-rtt", "els => els.map(e => e.textContent)")
            assert all(re.fullmatch(r"round trip \d+ ms \(model \d+ ms\)", r) for r in rtts), rtts
        finally:
            page.screenshot(path=str(tmp_path / "camera-jupyterlab.png"))
            browser.close()
    assert not errors


def test_a_refused_camera_shows_a_message_not_a_script_error(camera_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)  # no fake UI: the permission prompt is dismissed, so getUserMedia is refused
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(camera_url, timeout=TIMEOUT_MS)
        page.wait_for_selector(".dlw-camera-status.dlw-camera-error", timeout=TIMEOUT_MS)
        status = page.text_content(".dlw-camera-status")
        browser.close()
    assert status.startswith(("Camera access was refused", "No camera was found")), status
    assert not errors


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The Workbench served as `make app` serves it (app mode)."""
    with serve_app(tmp_path_factory.mktemp("camera-app")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def workbench_lab_url(tmp_path_factory):
    yield from serve_lab(ROOT / "notebooks" / "00_workbench.ipynb", tmp_path_factory.mktemp("lab-workbench-camera"))


def start_the_camera_tab(page) -> None:
    """Open the Workbench's Camera tab, check it names the Segment tab's model, press Start camera."""
    page.click(".dlw-workbench .lm-TabBar-tab >> text=Camera")
    page.wait_for_selector(".dlw-camera-model >> text=deeplabv3-starter", timeout=TIMEOUT_MS)
    assert "uses the model chosen in the Segment tab" in page.inner_text(".dlw-camera-model")
    page.click(".dlw-workbench .dlw-camera-start")


def test_the_camera_tab_of_the_app_segments_the_fake_camera_live(fake_camera: Path, app_url: str, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = fake_camera_browser(p, fake_camera)
        try:
            with watched_page(browser, screenshot=tmp_path / "camera-app.png") as (page, errors):
                page.goto(app_url, timeout=TIMEOUT_MS)
                wait_for_result(page)
                start_the_camera_tab(page)
                check_live_segmentation(page, "the app's Camera tab, Voila")
        finally:
            browser.close()
    assert not errors


def test_the_camera_tab_of_the_workbench_in_jupyterlab(fake_camera: Path, workbench_lab_url: str, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = fake_camera_browser(p, fake_camera)
        try:
            shot = tmp_path / "camera-workbench-lab.png"
            with watched_page(browser, 1400, 1000, screenshot=shot) as (page, errors):
                run_all_in_lab(page, workbench_lab_url, ".dlw-main-viewer[data-revision]")
                start_the_camera_tab(page)
                check_live_segmentation(page, "the Workbench's Camera tab, JupyterLab")
                assert "Traceback" not in page.inner_text(".jp-Notebook")
        finally:
            browser.close()
    assert not errors
