"""App capacity: memory per visitor, time to first result with several visitors at once, pages that all render.

Serves the Workbench as `make app` does (`tests/browser_server.serve_app`: `AppKernelManager`, the app's flags),
with `DEEPLAB_WIDGETS_MAX_VISITORS` raised to the largest trial, and drives headless Chromium with one browser
context per visitor (separate connections, as separate people have):

1. memory per visitor: one visitor's kernel (USS, PSS and RSS of the kernel process, from psutil) after its first
   result, after it has opened the Compare tab (a second model) and the Video tab (the player and its first frame),
   and while its Benchmark tab runs (the kernel and the benchmark's process together); and the server's RSS;
2. time to first result with `--concurrent` pages (default 1, 5 and 10) requested at once: from the request to the
   segmented photo on screen (the main viewer's `data-revision`), per page; median and slowest;
3. pages at once that all render: `--trials` (default 10 15 20 30) pages requested at once, each given
   `--patience` seconds (default 180) to show its segmented photo; stops after the first trial where one did not.
   The count of kernels the idle cull ended (from the server's log) tells pages that lost their kernel before
   their browser connected.

Pages are closed between steps (their kernels shut down when they close). Chromium runs on the same machine as
the server, so on a small machine it takes a share of the CPU the kernels would otherwise have.

    python benchmarks/app_capacity.py [--concurrent 1 5 10] [--trials 10 15 20 30] [--patience 180] [--json out.json]
        [--voila-option=--MappingKernelManager.cull_idle_timeout=600]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its tests' serving helpers
from tests.browser_server import chromium, kernels, serve_app

VIEWER = ".dlw-workbench .dlw-main-viewer"
RESULT_SHOWN = (
    f"() => {{ const v = document.querySelector({VIEWER!r}); return !!v && Number(v.dataset.revision || 0) > 0; }}"
)
FULL = "() => document.title === 'The workbench is full'"
MB = 1e6


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def kernel_processes(server: Any) -> list[Any]:
    import psutil

    return [
        p for p in psutil.Process(server.pid).children(recursive=True) if "ipykernel_launcher" in " ".join(p.cmdline())
    ]


def memory(processes: list[Any]) -> dict[str, float]:
    """USS, PSS and RSS in MB, summed over `processes` and their children."""
    import psutil

    total = {"uss": 0.0, "pss": 0.0, "rss": 0.0}
    for process in processes:
        for p in [process, *process.children(recursive=True)]:
            try:
                info = p.memory_full_info()
            except psutil.Error:
                continue
            for key in total:
                total[key] += getattr(info, key) / MB
    return total


def wait_for_no_kernels(server: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while kernels(server) and time.monotonic() < deadline:
        time.sleep(0.5)


def open_at_once(browser: Any, url: str, n: int, patience: float) -> tuple[list[float | None], list[Any]]:
    """Request `url` in `n` fresh browser contexts at once; the seconds each took to show its first result
    (None: not within `patience`, or turned away by the cap), and the contexts (for the caller to close)."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(n)]
    pages = [context.new_page() for context in contexts]
    started = time.monotonic()
    for page in pages:
        page.goto(url, wait_until="commit", timeout=int(patience * 1000))
    shown: list[float | None] = [None] * n
    waiting = set(range(n))
    while waiting and time.monotonic() - started < patience:
        for i in sorted(waiting):
            try:
                if pages[i].evaluate(RESULT_SHOWN):
                    shown[i] = time.monotonic() - started
                    waiting.discard(i)
                elif pages[i].evaluate(FULL):
                    waiting.discard(i)
            except Exception:  # the page is between documents: look again
                pass
        time.sleep(0.25)
    return shown, contexts


def close(contexts: list[Any]) -> None:
    for context in contexts:
        for page in context.pages:
            page.close(run_before_unload=True)
    time.sleep(1)  # the shutdown requests leave before the contexts go
    for context in contexts:
        context.close()


def visitor_memory(browser: Any, url: str, server: Any) -> dict[str, dict[str, float]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url, timeout=300_000)
    page.wait_for_function(RESULT_SHOWN, timeout=300_000)
    time.sleep(2)
    (kernel,) = kernel_processes(server)
    found = {"first result": memory([kernel])}
    page.click(".dlw-workbench .lm-TabBar-tab >> text=Compare")
    page.wait_for_selector(".dlw-disagreement >> text=/disagree on/", timeout=300_000)
    page.click(".dlw-workbench .lm-TabBar-tab >> text=Video")
    page.wait_for_selector(".dlw-video-viewer[data-revision]", timeout=300_000)
    time.sleep(2)
    found["every tab opened"] = memory([kernel])
    page.click(".dlw-workbench .lm-TabBar-tab >> text=Benchmark")
    page.click(".dlw-bench-run")
    page.wait_for_selector(".dlw-bench-status >> text=/configurations done/", timeout=300_000)
    found["benchmark running (kernel + its process)"] = memory([kernel])
    page.click(".dlw-bench-stop")
    close([context])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, nargs="*", default=[1, 5, 10])
    parser.add_argument("--trials", type=int, nargs="*", default=[10, 15, 20, 30])
    parser.add_argument("--patience", type=float, default=180.0, help="seconds a page may take to show its result")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--voila-option",
        action="append",
        default=[],
        help="a Voila option replacing the app's own, e.g. --voila-option=--MappingKernelManager.cull_idle_timeout=600",
    )
    args = parser.parse_args()

    import psutil

    cap = max([*args.concurrent, *args.trials, 1])
    figures: dict[str, Any] = {"load average before": os.getloadavg()[0]}
    env = {"DEEPLAB_WIDGETS_MAX_VISITORS": str(cap)}
    with (
        tempfile.TemporaryDirectory(prefix="app-capacity-") as folder,
        chromium() as browser,
        serve_app(Path(folder), *args.voila_option, env=env) as (url, server),
    ):
        figures["memory per visitor (MB)"] = visitor_memory(browser, url, server)
        figures["server RSS (MB)"] = psutil.Process(server.pid).memory_info().rss / MB
        wait_for_no_kernels(server)
        times: dict[int, list[float | None]] = {}
        for n in args.concurrent:
            times[n], contexts = open_at_once(browser, url, n, args.patience)
            close(contexts)
            wait_for_no_kernels(server)
        figures["seconds to first result"] = {str(n): t for n, t in times.items()}
        rendered: dict[int, int] = {}
        for n in args.trials:
            shown, contexts = open_at_once(browser, url, n, args.patience)
            rendered[n] = sum(t is not None for t in shown)
            peak = memory(kernel_processes(server))
            culled = (Path(folder) / "voila.log").read_text().count("Culling '")
            figures.setdefault("trials", {})[str(n)] = {
                "rendered": rendered[n],
                "slowest s": max((t for t in shown if t is not None), default=None),
                "seconds": shown,
                "kernels' USS (MB)": peak["uss"],
                "culled so far": culled,
            }
            close(contexts)
            wait_for_no_kernels(server)
            if rendered[n] < n:
                break
    figures["load average after"] = os.getloadavg()[0]

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 1e9:.1f} GB")
    print(f"load average {figures['load average before']:.1f} before, {figures['load average after']:.1f} after")
    print(f"Voila options replaced: {' '.join(args.voila_option) or 'none'} (`make app`'s own otherwise)\n")
    print("| memory of one visitor's kernel | USS MB | PSS MB | RSS MB |\n|---|---:|---:|---:|")
    for label, m in figures["memory per visitor (MB)"].items():
        print(f"| {label} | {m['uss']:.0f} | {m['pss']:.0f} | {m['rss']:.0f} |")
    print(f"\nserver process RSS: {figures['server RSS (MB)']:.0f} MB\n")
    print("| pages at once | showed their result | median s | slowest s |\n|---:|---:|---:|---:|")
    for n, t in times.items():
        done = [x for x in t if x is not None]
        median = f"{statistics.median(done):.1f}" if done else "-"
        print(f"| {n} | {len(done)} of {n} | {median} | {max(done, default=float('nan')):.1f} |")
    print(
        f"\n| pages at once (patience {args.patience:.0f} s) | showed their result | slowest s | kernels' USS MB |"
        " kernels culled |\n|---:|---:|---:|---:|---:|"
    )
    for n, trial in figures.get("trials", {}).items():
        uss, slowest = trial["kernels' USS (MB)"], trial["slowest s"]
        slowest_text = f"{slowest:.0f}" if slowest is not None else "-"
        print(f"| {n} | {trial['rendered']} of {n} | {slowest_text} | {uss:.0f} | {trial['culled so far']} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
