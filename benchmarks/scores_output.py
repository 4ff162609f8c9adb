"""Does exposing the logits as an extra output slow `invoke()` down? Original file vs scores graph, interleaved.

For every zoo model that ends in an ArgMax, `tflite.outputs.add_scores_output` makes the ArgMax's input
(the class scores at the input resolution) an extra model output. This times bare `invoke()` of the
original file and of that modified graph, alternating run by run in one process (same input, same
threads), and reports the ratio of the medians. `segment()` without scores runs the original graph
either way; the ratio says what `segment(scores=True)` pays in `invoke()` for the extra output.
A second table times the whole `segment()` without scores, with `scores=True` and with `scores="coarse"`
(street-scene photo), interleaved the same way: the price of scores including copying and the softmax, and of
the coarse logits the Workbench asks for. A third times what the browser viewer is sent for such a result
(`viewer_payload`, the photo's JPEG made beforehand, as the viewer keeps it per photo) and counts its bytes.

    python benchmarks/scores_output.py [--runs 30] [--threads N] [--model M ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from deeplab_widgets import RuntimeOptions, Segmenter, list_models, load_model, load_sample
from deeplab_widgets.core.runtime import cpu_count, make_interpreter
from deeplab_widgets.tflite.outputs import add_scores_output
from deeplab_widgets.widgets.viewer_payload import photo_jpeg, viewer_payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--model", action="append", help="zoo id (repeatable; default: every ArgMax model)")
    args = parser.parse_args()
    options = RuntimeOptions(num_threads=args.threads)
    names = args.model or [m.name for m in list_models() if m.output == "class_ids"]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {options.describe()}, {args.runs} runs"
    )
    print("\n| model | original invoke (median ms) | with scores output (median ms) | ratio |")
    print("|---|---|---|---|")
    for name in names:
        spec = load_model(name, options=options)
        scored, _ = add_scores_output(spec.content)
        interpreters = [make_interpreter(content, options) for content in (spec.content, scored)]
        pixels = np.random.default_rng(0).integers(0, 256, (*spec.input_size, 3), dtype=np.uint8)
        for it in interpreters:
            spec.feed(it, pixels)
            for _ in range(3):
                it.invoke()
        times: list[list[float]] = [[], []]
        for run in range(args.runs):
            order = (0, 1) if run % 2 == 0 else (1, 0)
            for k in order:
                t0 = time.perf_counter()
                interpreters[k].invoke()
                times[k].append(time.perf_counter() - t0)
        base, extra = (statistics.median(t) * 1e3 for t in times)
        print(f"| {name} | {base:.1f} | {extra:.1f} | {extra / base:.3f} |")
    print('\n| model | segment() (median ms) | scores=True (median ms) | ratio | scores="coarse" (median ms) | ratio |')
    print("|---|---|---|---|---|---|")
    image = load_sample("cityscapes")
    kinds: tuple[bool | str, ...] = (False, True, "coarse")
    payloads = []
    for name in [m.name for m in list_models()] if not args.model else names:
        seg = Segmenter(name, options)
        for kind in kinds:
            seg.segment(image, scores=kind)  # type: ignore[arg-type]
        spent: list[list[float]] = [[], [], []]
        for run in range(args.runs):
            for k in range(3) if run % 2 == 0 else reversed(range(3)):
                t0 = time.perf_counter()
                seg.segment(image, scores=kinds[k])  # type: ignore[arg-type]
                spent[k].append(time.perf_counter() - t0)
        plain, scored_ms, coarse_ms = (statistics.median(t) * 1e3 for t in spent)
        print(
            f"| {name} | {plain:.1f} | {scored_ms:.1f} | {scored_ms / plain:.2f} | {coarse_ms:.1f} | {coarse_ms / plain:.2f} |"
        )
        payloads.append((name, seg.segment(image, scores=True), seg.segment(image, scores="coarse")))
    print('\n| model | viewer payload for scores=True (median ms; class map + scores bytes) | for scores="coarse" |')
    print("|---|---|---|")
    photo = photo_jpeg(image)
    for name, scored, coarse in payloads:
        cells = []
        for result in (scored, coarse):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                payload = viewer_payload(image, result, photo=photo)
                times.append(time.perf_counter() - t0)
            sent = sum(len(getattr(payload, f)) for f in ("mask_png", "labels", "scores", "coarse"))
            cells.append(f"{statistics.median(times) * 1e3:.1f} ms, {sent / 1024:.0f} kB")
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
