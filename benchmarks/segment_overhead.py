"""How much the pipeline adds to bare inference: `Segmenter.segment()` as a ratio to bare `invoke()`.

Same process, same model (the starter model), same thread count; every contender is measured interleaved with
bare `invoke()` of the unmodified model (one call each per round) so that machine load hits all alike. Rows:

- the decoded 512x341 cat and the decoded 1352x900 kite_and_cold (targets <= 1.10x and <= 1.25x);
- the kite from its JPEG file and from its bytes (reduced-scale decode, class map at full size), and the
  previous way from a file: full decode, then `segment()` of the decoded photo.

Per-stage medians come from `SegmentationResult.timings` (decode is timed separately).

    python benchmarks/segment_overhead.py [--runs 100] [--threads N] [--model deeplabv3-starter]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from deeplab_widgets import RuntimeOptions, Segmenter, Size
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.core import preprocess
from deeplab_widgets.core.images import load_image, load_image_at_least
from deeplab_widgets.core.preprocess import Placement, fit, restore
from deeplab_widgets.core.runtime import cpu_count, make_interpreter
from deeplab_widgets.workflows.bench import machine_description

TARGETS = {"cat": 1.10, "kite_and_cold": 1.25}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--model", default="deeplabv3-starter")
    parser.add_argument("--resize", default="stretch")
    args = parser.parse_args()

    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=args.threads), resize=args.resize)
    # Bare invoke() of the unmodified model file (the Segmenter runs it with an ARG_MAX head grafted on).
    interpreter = make_interpreter(segmenter.spec.content, segmenter.options)
    cat, kite = load_image(sample_path("cat")), load_image(sample_path("kite_and_cold"))
    kite_path = sample_path("kite_and_cold")
    kite_bytes = kite_path.read_bytes()
    contenders: dict[str, Callable] = {
        "segment(decoded cat 512x341)": lambda: segmenter.segment(cat),
        "segment(decoded kite 1352x900)": lambda: segmenter.segment(kite),
        "segment(kite JPEG path)": lambda: segmenter.segment(kite_path),
        "segment(kite JPEG bytes)": lambda: segmenter.segment(kite_bytes),
        "previous: full decode + segment(decoded kite)": lambda: segmenter.segment(load_image(kite_path)),
        "decode only: kite at reduced scale": lambda: load_image_at_least(kite_path, segmenter.decode_size),
        "decode only: kite at full scale": lambda: load_image(kite_path),
    }
    for _ in range(5):
        interpreter.invoke()
        for run in contenders.values():
            run()
    invoke: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in contenders}
    stages: dict[str, list] = {name: [] for name in contenders}
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            interpreter.invoke()
            invoke.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = run()
            times[name].append(time.perf_counter() - t0)
            if hasattr(out, "timings"):
                stages[name].append(out.timings)
    load_after = os.getloadavg()[0]

    import ai_edge_litert

    inv = statistics.median(invoke) * 1e3
    print(f"model {args.model}, {args.threads} threads, resize {args.resize}, {args.runs} interleaved rounds")
    print(f"machine: {machine_description()}; LiteRT {getattr(ai_edge_litert, '__version__', '?')}")
    print(f"load average {load_before:.2f} -> {load_after:.2f}")
    print(f"median bare invoke() {inv:.2f} ms (the bound)\n")
    print("| call | median ms | ratio to bare invoke | target | fit+feed ms | invoke+head ms | restore ms |")
    print("|---|---|---|---|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values) * 1e3
        decoded = name.startswith("segment(decoded")
        target = next((f"<= {t:.2f}x" for key, t in TARGETS.items() if decoded and key[:3] in name), "")
        cols = ["", "", ""]
        if stages[name]:
            cols = [
                f"{statistics.median(getattr(t, k) for t in stages[name]):.2f}"
                for k in ("preprocess_ms", "invoke_ms", "postprocess_ms")
            ]
        print(f"| {name} | {med:.2f} | {med / inv:.2f}x | {target} | {' | '.join(cols)} |")
    print("\nCPU ms of the single-threaded stages (time.thread_time, median):")
    print("| stage | CPU ms |")
    print("|---|---|")
    for name, ms in stage_cpu_ms(segmenter).items():
        print(f"| {name} | {ms:.2f} |")


def previous_fit(image, size: Size, mode: str):
    """`fit` as it was before the integer pre-reduction (Pillow's reducing gap 3.0)."""
    gap = preprocess.REDUCING_GAP
    preprocess.REDUCING_GAP = 3.0
    try:
        return fit(image, size, mode)
    finally:
        preprocess.REDUCING_GAP = gap


def stage_cpu_ms(segmenter: Segmenter, rounds: int = 40) -> dict[str, float]:
    """Median CPU ms (`time.thread_time`: this thread only, so other processes' load barely moves it) of the
    single-threaded stages around `invoke()`."""
    spec = segmenter.spec
    cat, kite = load_image(sample_path("cat")), load_image(sample_path("kite_and_cold"))
    path = sample_path("kite_and_cold")
    reduced = load_image_at_least(path, segmenter.decode_size)
    small = np.zeros(spec.input_size, np.uint8)
    stages: dict[str, Callable] = {
        "decode kite JPEG, full scale": lambda: load_image(path),
        "decode kite JPEG, reduced scale": lambda: load_image_at_least(path, segmenter.decode_size),
        "fit decoded cat": lambda: fit(cat, spec.input_size, segmenter.resize),
        "fit decoded kite": lambda: fit(kite, spec.input_size, segmenter.resize),
        "fit decoded kite, previous reducing gap 3.0": lambda: previous_fit(kite, spec.input_size, segmenter.resize),
        "fit reduced kite": lambda: fit(
            reduced.image, spec.input_size, segmenter.resize, full_size=reduced.size, box=reduced.box
        ),
        "restore cat class map": lambda: restore(small, Placement(Size.of(cat), spec.input_size)),
        "restore kite class map": lambda: restore(small, Placement(Size.of(kite), spec.input_size)),
    }
    out = {}
    for name, run in stages.items():
        run()
        times = []
        for _ in range(rounds):
            t = time.thread_time()
            run()
            times.append((time.thread_time() - t) * 1e3)
        out[name] = statistics.median(times)
    return out


if __name__ == "__main__":
    main()
