"""Take docs/images/workbench.png: the Workbench in Voila (headless Chromium), pointer over Grace Hopper's face.

DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python docs/screenshot_workbench.py
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout: its tests' serving helpers
from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, free_port, serve, tool  # noqa: E402

FACE = (280, 200)  # in grace_hopper.bmp
LIMIT = 300_000  # bytes


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    command = [tool("voila"), "00_workbench.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(command, port, Path(tmp) / "voila.log", ROOT / "notebooks"),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
        viewer = ".dlw-main-viewer"
        page.wait_for_selector(f"{viewer}[data-revision]", timeout=180_000)
        before = page.eval_on_selector(viewer, "v => Number(v.dataset.revision)")
        page.click(".dlw-sample-grace_hopper")
        page.wait_for_function(
            "r => Number(document.querySelector('.dlw-main-viewer').dataset.revision) > r", arg=before
        )
        canvas = page.locator(f"{viewer} .dlw-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.evaluate(
            """c => { const r = c.getBoundingClientRect(); return {left: r.left, top: r.top,
            scale: Number(c.dataset.scale), ox: Number(c.dataset.offsetX), oy: Number(c.dataset.offsetY)}; }"""
        )
        page.mouse.move(
            box["left"] + box["ox"] + FACE[0] * box["scale"], box["top"] + box["oy"] + FACE[1] * box["scale"]
        )
        page.wait_for_selector(f"{viewer} .dlw-readout >> text=person")
        png = page.screenshot()
        browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    target = ROOT / "docs" / "images" / "workbench.png"
    for colours in (256, 128, 64):
        image.quantize(colours, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        if target.stat().st_size < LIMIT:
            break
    print(f"{target.relative_to(ROOT)}: {image.width}x{image.height}, {target.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
