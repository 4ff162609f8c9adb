"""Take docs/images/workbench.png: the Workbench in Voila (headless Chromium), pointer over Grace Hopper's face.

DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python docs/screenshot_workbench.py
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
FACE = (280, 200)  # in grace_hopper.bmp
LIMIT = 300_000  # bytes


def main() -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    voila = str(Path(sys.executable).with_name("voila"))
    server = subprocess.Popen(
        [voila, "00_workbench.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=ROOT / "notebooks",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("voila did not start") from None
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
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
    finally:
        server.terminate()
        server.wait(timeout=20)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    target = ROOT / "docs" / "images" / "workbench.png"
    for colours in (256, 128, 64):
        image.quantize(colours, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        if target.stat().st_size < LIMIT:
            break
    print(f"{target.relative_to(ROOT)}: {image.width}x{image.height}, {target.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
