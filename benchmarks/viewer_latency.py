"""Display-change latency of the browser viewer: input event -> repainted canvas, in headless Chromium.

Voila serves a one-cell notebook showing `MaskViewer` with the starter model's result (with scores) on a sample
(default `kite_and_cold`, 1352x900 = 1.2 MP). Playwright then moves the opacity slider, clicks the mode buttons
and toggles a class in the legend (the smallest class, then the largest). The page gets two listeners of its own
(the viewer keeps no log): one that notes each input event's `timeStamp` before the viewer sees it (capture
phase) and one that runs after the viewer has redrawn, synchronously, in the same event (bubble phase on
`window`):
- `draw_ms`: from the input event's `timeStamp` to the end of the synchronous redraw of the canvas;
- `frame_ms`: from the event to the next `requestAnimationFrame` callback after that redraw (the frame
  that shows it), so it includes waiting for the frame boundary (up to 16.7 ms at 60 Hz).
No kernel round trip is involved. The target is < 16 ms (one frame).

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python benchmarks/viewer_latency.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its tests' serving helpers
from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, free_port, serve, tool

MODES = ("mask", "boundaries", "confidence", "entropy", "side by side", "overlay")

#: Times every input event on the viewer: the kind of change, draw_ms and frame_ms (see the module docstring).
LISTEN = """() => {
  window.latencies = [];
  const kindOf = (target) =>
    target.closest(".dlw-alpha") ? "alpha" : target.closest(".dlw-legend-row") ? "toggle"
      : target.closest(".dlw-mode-button") ? "mode" : null;
  let started = null;
  for (const type of ["input", "click"]) {
    document.addEventListener(type, (event) => {
      const kind = event.target.closest && kindOf(event.target);
      started = kind ? { kind, t0: event.timeStamp } : null;
    }, true);
    window.addEventListener(type, () => {
      if (!started) return;
      const { kind, t0 } = started, drawn = performance.now();
      started = null;
      requestAnimationFrame(() => window.latencies.push({ kind, draw_ms: drawn - t0, frame_ms: performance.now() - t0 }));
    });
  }
}"""


def notebook(sample: str) -> dict:
    code = (
        "from deeplab_widgets import Segmenter, load_sample\n"
        "from deeplab_widgets.widgets import MaskViewer\n"
        f"image = load_sample({sample!r})\n"
        "MaskViewer(image, Segmenter('deeplabv3-starter').segment(image, scores='coarse'))"
    )
    return {
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": code}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="kite_and_cold")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--width", type=int, default=1280, help="browser window width (CSS px)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="viewer-latency-"))
    (folder / "viewer.ipynb").write_text(json.dumps(notebook(args.sample)))
    port = free_port()
    command = [tool("voila"), "viewer.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    try:
        with serve(command, port, folder / "voila.log", folder), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
            page.wait_for_selector(".dlw-viewer[data-revision]", timeout=180_000)
            size = page.eval_on_selector(".dlw-canvas", "c => [c.width, c.height]")
            page.evaluate(LISTEN)
            smallest, largest = ".dlw-legend-row >> nth=-1", ".dlw-legend-row >> nth=0"
            for i in range(args.rounds):
                page.fill(".dlw-alpha input", "0.3" if i % 2 else "0.7")  # fires "input"
                page.wait_for_timeout(60)
                page.click(smallest)
                page.wait_for_timeout(60)
                page.click(smallest)
                page.wait_for_timeout(60)
                for mode in MODES:
                    page.click(f".dlw-mode-button[data-mode='{mode}']")
                    page.wait_for_timeout(60)
            page.wait_for_timeout(300)
            samples = page.evaluate("() => window.latencies.splice(0)")
            for _ in range(args.rounds):  # the largest class: the most pixels to rewrite
                page.click(largest)
                page.wait_for_timeout(60)
                page.click(largest)
                page.wait_for_timeout(60)
            page.wait_for_timeout(300)
            samples += [dict(s, kind="toggle, largest") for s in page.evaluate("() => window.latencies.splice(0)")]
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    from deeplab_widgets import load_sample

    photo = load_sample(args.sample)
    print(
        f"{args.sample}: {photo.width}x{photo.height} = {photo.width * photo.height / 1e6:.2f} MP, canvas {size[0]}x{size[1]}"
    )
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print(f"Chromium headless, --disable-gpu (software canvas); {args.rounds} rounds\n")
    print(f"{'change':16} {'n':>4} {'draw median':>12} {'draw p90':>9} {'frame median':>13} {'frame p90':>10}")
    for kind in ("alpha", "toggle", "toggle, largest", "mode"):
        draw = [s["draw_ms"] for s in samples if s["kind"] == kind]
        frame = [s["frame_ms"] for s in samples if s["kind"] == kind]
        if len(draw) < 2:
            print(f"{kind:16} {len(draw):4}  (too few samples)")
            continue
        q = statistics.quantiles
        print(
            f"{kind:16} {len(draw):4} {statistics.median(draw):10.1f}ms {q(draw, n=10)[-1]:7.1f}ms"
            f" {statistics.median(frame):11.1f}ms {q(frame, n=10)[-1]:8.1f}ms"
        )


if __name__ == "__main__":
    main()
