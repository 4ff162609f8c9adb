"""Click to painted result in the Workbench, in headless Chromium: sample, model, threads, XNNPACK, resize, upload.

Voila serves a one-cell notebook with a `Workbench` (starter model, `cat`); Playwright drives headless Chromium.
Each change is one user input (a click, a choice in the model list, a key on the threads slider, a file given to
the upload button) and is timed from that input event's `timeStamp` to the animation frame after the viewer has
drawn the new result. Clocks: the browser's `performance.timeOrigin + timeStamp` and the kernel's `time.time()`
are both the system clock, so the stages line up:

- to kernel: input event -> the kernel starts handling the widget message (websocket, server, ZMQ);
- to segment: -> `Segmenter.segment` is called (reading a sample or decoding an upload, the controls' updates);
- segment: -> it returns (`invoke` is the model run inside it, from the result's timings);
- payload: -> the viewer's message is sent (`viewer_payload` and the widget message's serialisation);
- transfer: -> the viewer's handler starts in the browser (ZMQ, server, websocket, the widget manager);
- decode: -> photo, class map and scores decoded and the colour layer built;
- draw: -> the canvas, legend and readout updated (synchronous);
- frame: -> the next `requestAnimationFrame` (the frame that shows it).

The notebook wraps `ipywidgets.Widget._handle_msg`, `Segmenter.segment` and `MaskViewer._send_result` to log
their times to a file; the browser side listens for the viewer's `dlw-painted` event (the viewer keeps no log).
The bound: a bare `invoke()` of the same model and runtime options, timed in this process after every change
(the kernel idle), 5 runs each, median. The upload is a 1224x816 (1.0 MP) JPEG made from `kite_and_cold`.

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python benchmarks/click_to_paint.py --rounds 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its tests' serving helpers
from benchmarks.viewer_latency import cpu_model
from tests.browser_server import CHROMIUM, CHROMIUM_FLAGS, free_port, serve, tool

VIEWER = ".dlw-workbench .dlw-main-viewer"
STAGES = ("to kernel", "to segment", "segment", "invoke", "payload", "transfer", "decode", "draw", "frame")
#: Seconds to wait for one change to be painted.
TIMEOUT_S = 120

KERNEL_CODE = """
import json, time
import ipywidgets
from deeplab_widgets.core.segmenter import Segmenter
from deeplab_widgets.widgets import Workbench
from deeplab_widgets.widgets.mask_viewer import MaskViewer

_log, _stamps = open({log!r}, "a"), []
_handle, _segment, _send = ipywidgets.Widget._handle_msg, Segmenter.segment, MaskViewer._send_result

def handle_msg(self, *args, **kwargs):
    _stamps.append(("message", time.time()))
    return _handle(self, *args, **kwargs)

def segment(self, *args, **kwargs):
    _stamps.append(("segment", time.time()))
    result = _segment(self, *args, **kwargs)
    _stamps.append(("segmented", time.time()))
    _stamps.append(("timings", [result.timings.preprocess_ms, result.timings.invoke_ms]))
    return result

def send_result(self, *args, **kwargs):
    _send(self, *args, **kwargs)
    if "dlw-main-viewer" in self._dom_classes:
        _stamps.append(("sent", time.time()))
        _log.write(json.dumps({{"revision": self.revision, "stamps": _stamps}}) + "\\n")
        _log.flush()
        _stamps.clear()

ipywidgets.Widget._handle_msg, Segmenter.segment, MaskViewer._send_result = handle_msg, segment, send_result
Workbench()
"""

#: Records the first input event (a click, a key, a changed value) after arming and every `dlw-painted` event of
#: the main viewer, in milliseconds of the page's high-resolution clock since the epoch.
BROWSER_CODE = """(viewer) => {
  window.__bench = { t0: null, armed: false, paints: [] };
  const first = (event) => {
    if (window.__bench.armed) {
      window.__bench.armed = false;
      window.__bench.t0 = performance.timeOrigin + event.timeStamp;
    }
  };
  for (const type of ["click", "keydown", "change"]) document.addEventListener(type, first, true);
  document.querySelector(viewer).addEventListener("dlw-painted", (event) => {
    const d = event.detail, origin = performance.timeOrigin;
    requestAnimationFrame(() => window.__bench.paints.push({
      revision: d.revision, received: origin + d.received, decoded: origin + d.decoded, drawn: origin + d.drawn,
      frame: origin + performance.now(),
    }));
  });
}"""


def notebook(log: Path) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": KERNEL_CODE.format(log=str(log)),
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def one_mp_photo(folder: Path) -> Path:
    """A 1224x816 (1.0 MP) JPEG of the kite sample."""
    from PIL import Image

    from deeplab_widgets import load_sample

    path = folder / "kite_1mp.jpg"
    load_sample("kite_and_cold").resize((1224, 816), Image.Resampling.LANCZOS).save(path, quality=90)
    return path


class Bench:
    """Drives the page and collects one row of stages per change."""

    def __init__(self, page, log: Path) -> None:
        self.page, self.log = page, log
        self.rows: list[dict] = []
        self.bare: dict[tuple, list[float]] = {}
        self.segmenters: dict[tuple, object] = {}

    def revision(self) -> int:
        return self.page.eval_on_selector(VIEWER, "v => Number(v.dataset.revision || 0)")

    def change(self, kind: str, act, config: tuple, *, record: bool = True) -> None:
        """Time the bare invoke of `config`, arm the input listener, act, wait for the next painted result, and time
        the bare invoke again: the change's bound is the median of the runs just before and just after it."""
        bare = self.time_bare(config)
        before = self.revision()
        self.page.evaluate("() => { window.__bench.armed = true; window.__bench.t0 = null; }")
        act()
        self.page.wait_for_function(
            "r => window.__bench.paints.some(p => p.revision > r)", arg=before, timeout=TIMEOUT_S * 1000
        )
        paint = next(p for p in self.page.evaluate("() => window.__bench.paints.splice(0)") if p["revision"] > before)
        t0 = self.page.evaluate("() => window.__bench.t0")
        offset = self.clock_offset()
        t0, paint = t0 + offset, {k: v + offset if k != "revision" else v for k, v in paint.items()}
        kernel = self.kernel_stamps(paint["revision"])
        time.sleep(0.3)  # the kernel finishes the status line and goes idle
        bare += self.time_bare(config)
        if record and t0 is not None and kernel is not None:
            self.rows.append({**self.stages(kind, config, t0, kernel, paint), "bare": statistics.median(bare)})

    def clock_offset(self) -> float:
        """Milliseconds to add to the page's `performance.timeOrigin + now()` to get the system clock (`Date.now()`,
        which the kernel's `time.time()` reads too): the monotonic clock drifts from it over a long run."""
        return self.page.evaluate(
            """() => { const d = [];
              for (let i = 0; i < 200; i++) d.push(Date.now() - (performance.timeOrigin + performance.now()));
              d.sort((a, b) => a - b); return d[100] + 0.5; }"""
        )

    def kernel_stamps(self, revision: int) -> dict | None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                entry = json.loads(line)
                if entry["revision"] == revision:
                    return entry
            time.sleep(0.05)
        return None

    @staticmethod
    def stages(kind: str, config: tuple, t0: float, kernel: dict, paint: dict) -> dict:
        marks = [(name, round(t * 1e3 - t0, 2) if isinstance(t, float) else t) for name, t in kernel["stamps"]]
        stamps = [(name, t) for name, t in kernel["stamps"] if isinstance(t, float)]
        t0_s = t0 / 1000
        message = min((t for name, t in stamps if name == "message" and t >= t0_s - 0.005), default=None)
        segment = max((t for name, t in stamps if name == "segment"), default=None)
        segmented = max((t for name, t in stamps if name == "segmented"), default=None)
        invoke = [t[1] for name, t in kernel["stamps"] if name == "timings"]
        sent = next(t for name, t in stamps if name == "sent")
        if message is None or segment is None or segmented is None:
            return {"kind": kind, "config": config, "total": paint["frame"] - t0, "incomplete": True}
        ms = {
            "to kernel": (message - t0_s) * 1e3,
            "to segment": (segment - message) * 1e3,
            "segment": (segmented - segment) * 1e3,
            "invoke": invoke[-1] if invoke else float("nan"),
            "payload": (sent - segmented) * 1e3,
            "transfer": paint["received"] - sent * 1e3,
            "decode": paint["decoded"] - paint["received"],
            "draw": paint["drawn"] - paint["decoded"],
            "frame": paint["frame"] - paint["drawn"],
        }
        return {"kind": kind, "config": config, "total": paint["frame"] - t0, **ms, "kernel": marks}

    def time_bare(self, config: tuple, runs: int = 3) -> list[float]:
        """Milliseconds of `runs` bare `invoke()` calls of the model and options `config`, in this process."""
        from deeplab_widgets import RuntimeOptions, Segmenter

        model, threads, xnnpack = config
        segmenter = self.segmenters.get(config)
        if segmenter is None:
            segmenter = self.segmenters[config] = Segmenter(model, RuntimeOptions(num_threads=threads, xnnpack=xnnpack))
            runner = segmenter.runner
            with runner.lock:
                runner.invoke()
        runner = segmenter.runner  # type: ignore[attr-defined]
        times = []
        for _ in range(runs):
            with runner.lock:
                start = time.perf_counter()
                runner.invoke()
                times.append((time.perf_counter() - start) * 1e3)
        self.bare.setdefault(config, []).extend(times)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--other-model", default="deeplabv3-mnv2-dm05-voc")
    parser.add_argument("--json", type=Path, help="also write every measured change to this file")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="click-to-paint-"))
    log = folder / "kernel.jsonl"
    log.touch()
    (folder / "bench.ipynb").write_text(json.dumps(notebook(log)))
    upload = one_mp_photo(folder)
    cores = os.cpu_count() or 1
    starter, other = "deeplabv3-starter", args.other_model
    port = free_port()
    command = [tool("voila"), "bench.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    load = [os.getloadavg()[0]]
    try:
        with serve(command, port, folder / "voila.log", folder), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
            page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
            page.wait_for_selector(f"{VIEWER}[data-revision]", timeout=180_000)
            page.evaluate(BROWSER_CODE, VIEWER)
            bench = Bench(page, log)
            models = ".dlw-runtime-controls .dlw-model select"
            labels = page.eval_on_selector_all(f"{models} option", "os => os.map(o => o.label)")
            label = {
                m: next(t for t in labels if t.replace("\xa0", " ").startswith(f"{m} (")) for m in (starter, other)
            }

            def sample(name: str):
                return lambda: page.click(f".dlw-sample-{name}")

            def model(name: str):
                return lambda: page.select_option(models, label=label[name])

            def threads_key(key: str):
                def act() -> None:
                    page.focus(".dlw-threads .noUi-handle")
                    page.keyboard.press(key)

                return act

            def xnnpack():
                return lambda: page.click(".dlw-xnnpack input")

            def resize(mode: str):
                return lambda: page.click(f".dlw-resize button:has-text('{mode}')")

            chooser = ".dlw-image-picker .dlw-upload input[type=file]"

            def give_upload():
                page.set_input_files(chooser, str(upload))

            base = (starter, cores, True)
            # warm-up: every configuration once (models loaded, interpreters built, caches filled)
            for kind, act, config in [
                ("sample", sample("pets"), base),
                ("sample", sample("cat"), base),
                ("model", model(other), (other, cores, True)),
                ("model", model(starter), base),
                *(
                    [
                        ("threads", threads_key("ArrowLeft"), (starter, cores - 1, True)),
                        ("threads", threads_key("ArrowRight"), base),
                    ]
                    if cores > 1
                    else []
                ),
                ("xnnpack", xnnpack(), (starter, cores, False)),
                ("xnnpack", xnnpack(), base),
                ("resize", resize("pad"), base),
                ("resize", resize("stretch"), base),
            ]:
                bench.change(kind, act, config, record=False)
            for _ in range(args.rounds):
                bench.change("sample -> pets", sample("pets"), base)
                bench.change("sample -> cat", sample("cat"), base)
                bench.change(f"model -> {other}", model(other), (other, cores, True))
                bench.change(f"model -> {starter}", model(starter), base)
                if cores > 1:
                    bench.change(
                        f"threads {cores} -> {cores - 1}", threads_key("ArrowLeft"), (starter, cores - 1, True)
                    )
                    bench.change(f"threads {cores - 1} -> {cores}", threads_key("ArrowRight"), base)
                bench.change("XNNPACK on -> off", xnnpack(), (starter, cores, False))
                bench.change("XNNPACK off -> on", xnnpack(), base)
                bench.change("resize stretch -> pad", resize("pad"), base)
                bench.change("resize pad -> stretch", resize("stretch"), base)
                page.eval_on_selector(chooser, "input => { input.value = ''; }")  # as the button does before a choice
                bench.change("upload 1 MP JPEG", give_upload, base)
                bench.change("sample -> cat (after upload)", sample("cat"), base, record=False)
                load.append(os.getloadavg()[0])
            version = browser.version
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    report(bench, cores, load, version, args.rounds)
    if args.json:
        args.json.write_text(json.dumps({"rows": bench.rows, "bare": {str(k): v for k, v in bench.bare.items()}}))


def report(bench: Bench, cores: int, load: list[float], version: str, rounds: int) -> None:
    print(f"CPU: {cpu_model()}, {cores} cores; load average (1 min) {min(load):.2f} to {max(load):.2f}")
    print(f"Chromium {version} headless, --disable-gpu; Voila; {rounds} rounds; medians (ms)")
    print("ratio: the median over the changes of click to paint / the bare invoke() timed just before and after it\n")
    head = ["change", "n", "click to paint", "bare invoke", "ratio", *STAGES]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    kinds = list(dict.fromkeys(row["kind"] for row in bench.rows))
    for kind in kinds:
        rows = [r for r in bench.rows if r["kind"] == kind and not r.get("incomplete")]
        if not rows:
            continue
        bare = statistics.median(r["bare"] for r in rows)
        total = statistics.median(r["total"] for r in rows)
        ratio = statistics.median(r["total"] / r["bare"] for r in rows)
        stages = [f"{statistics.median(r[s] for r in rows):.1f}" for s in STAGES]
        print(f"| {kind} | {len(rows)} | {total:.1f} | {bare:.1f} | {ratio:.1f}x | " + " | ".join(stages) + " |")


if __name__ == "__main__":
    main()
