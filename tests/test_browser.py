"""The workbench in a real browser: Voila serves notebooks/00_workbench.ipynb on localhost,
headless Chromium (Debian's package, driven by Playwright) renders it, and a user's clicks
change what is on screen. This is where front-end problems (widgets that never render,
version mismatches between the kernel and the page) get caught."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Rendering a notebook's widgets includes starting a kernel and the first segmentation.
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(command: list[str], port: int, log: Path, cwd: Path):
    """Start a local server, wait until its port accepts connections; yields nothing, stops it after."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(), cwd=cwd)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{command[0]} did not start:\n{log.read_text()}")
                time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def tool(name: str) -> str:
    """A console script of this environment (voila, jupyter)."""
    return str(Path(sys.executable).with_name(name))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium not found: install Debian's package (`apt-get install chromium`); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    notebook = ROOT / "notebooks" / "00_workbench.ipynb"
    command = [tool("voila"), str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    for _ in serve(command, port, log, ROOT / "notebooks"):
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    port = free_port()
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "00_workbench.ipynb", root)
    command = [
        tool("jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--allow-root",
    ]
    for _ in serve(command, port, root / "lab.log", root):
        yield f"http://127.0.0.1:{port}/lab/tree/00_workbench.ipynb"


def image_digest(page, selector: str) -> str:
    """SHA-1 of the pixels the browser shows in an <img> (drawn on a canvas and read back)."""
    data = page.eval_on_selector(
        selector,
        """img => {
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            return Array.from(ctx.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 97 === 0));
        }""",
    )
    assert len(data) > 100, "the overlay image is empty"
    return hashlib.sha1(bytes(data)).hexdigest()


def wait_for_new_image(page, selector: str, before: str) -> str:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = image_digest(page, selector)
        if now != before:
            return now
    pytest.fail("the displayed image did not change")


def wait_for_overlay(page, selector: str) -> None:
    page.wait_for_selector(f"img{selector}", state="visible", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0; }",
        arg=f"img{selector}",
        timeout=TIMEOUT_MS,
    )


def test_workbench_renders_and_responds_in_voila(browser, voila_url, tmp_path) -> None:
    overlay = ".dlw-overlay"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        wait_for_overlay(page, overlay)
        page.wait_for_selector(".dlw-legend >> text=cat", timeout=TIMEOUT_MS)
        first = image_digest(page, f"img{overlay}")

        # Pick another sample photo: the dog.
        page.click(".dlw-sample-pets", timeout=TIMEOUT_MS)
        page.wait_for_selector(".dlw-legend >> text=dog", timeout=TIMEOUT_MS)
        dog = wait_for_new_image(page, f"img{overlay}", first)

        # Move the alpha slider with the keyboard: the overlay is redrawn.
        page.click(".dlw-alpha .noUi-handle")
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        lighter = wait_for_new_image(page, f"img{overlay}", dog)
        assert lighter != dog

        # Change the model to the Cityscapes one: its classes replace VOC's.
        labels = page.eval_on_selector_all(".dlw-model select option", "os => os.map(o => o.label)")
        cityscapes = next(label for label in labels if label.startswith("deeplab-edgetpu-slim-cityscapes"))
        page.select_option(".dlw-model select", label=cityscapes)
        page.wait_for_selector(".dlw-legend >> text=/road|sidewalk|building|vegetation|terrain/", timeout=TIMEOUT_MS)
        assert "Traceback" not in page.inner_text("body")
    finally:
        page.screenshot(path=str(tmp_path / "workbench.png"), full_page=True)
        page.close()
    assert (tmp_path / "workbench.png").stat().st_size > 10_000


def test_workbench_runs_in_jupyterlab(browser, lab_url, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(lab_url, timeout=TIMEOUT_MS)
        page.wait_for_selector(".jp-Notebook", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands", timeout=TIMEOUT_MS)
        # Not awaited: the command's promise settles only when every cell has run.
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        # JupyterLab may ask which kernel to start (before or after the run starts): take the
        # preferred one, as a user would, until the workbench shows up.
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not page.is_visible("img.dlw-overlay") and time.monotonic() < deadline:
            if page.is_visible(".jp-Dialog button.jp-mod-accept"):
                page.click(".jp-Dialog button.jp-mod-accept")
            page.wait_for_timeout(500)
        wait_for_overlay(page, ".dlw-overlay")
        page.wait_for_selector(".dlw-legend >> text=cat", timeout=TIMEOUT_MS)
        image_digest(page, "img.dlw-overlay")
        assert "Traceback" not in page.inner_text(".jp-Notebook")
    finally:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        page.close()
