"""Notebook 03's reference run: the measurements its text relies on, interleaved, with medians and 5-95% ranges.

Three interleaved measurements (`time_interleaved`, bare `invoke()` on the cat photo, XNNPACK's default unless
stated), each a table, with the ratios of settings that differ in one thing only:

1. the starter model at 1 and N threads (N = the cores), XNNPACK on and off;
2. the v3+ MobileNetV2 ADE20K model as uint8 and as int8, XNNPACK on and off, at N threads and at 1 thread;
3. the starter (float, dm0.5, 257 px), the Coral dm0.5 model (uint8, 513 px) and the Coral dm1.0 model (uint8,
   513 px) at N threads, with their MACs, the channels of their first convolution and what XNNPACK runs.

    python benchmarks/timing_reference.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
from itertools import pairwise

from deeplab_widgets import RuntimeOptions, compute_cost, load_model, load_sample
from deeplab_widgets.analysis.deeplab import read_graph
from deeplab_widgets.core.runtime import cpu_count
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.bench.kernels import kernel_plan
from deeplab_widgets.workflows.interleaved import InterleavedTiming, invoke_task, time_interleaved

STARTER = "deeplabv3-starter"
V3PLUS = {"uint8": "deeplabv3plus-mnv2-ade20k", "int8": "deeplabv3plus-mnv2-ade20k-int8"}
WIDTHS = ("deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc")


def ratios(timing: InterleavedTiming, pairs: list[tuple[str, str]]) -> str:
    """A Markdown table: for each pair differing in one thing, the ratio of medians and whether the ranges overlap."""
    rows = ["| slower | faster | ratio of medians | 5-95% ranges |", "|---|---|---:|---|"]
    for a, b in pairs:
        slow, fast = (a, b) if timing.stat(a).median_ms >= timing.stat(b).median_ms else (b, a)
        overlap = "apart" if timing.distinct(a, b) else "overlap"
        rows.append(f"| {slow} | {fast} | {timing.ratio(slow, fast):.2f} | {overlap} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    cores = cpu_count()
    photo = load_sample("cat")
    print(f"{machine_description()}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}\n")

    threads = sorted({1, cores})
    settings = {
        f"{n} thread{'s' * (n > 1)}, XNNPACK {'on' if x else 'off'}": RuntimeOptions(num_threads=n, xnnpack=x)
        for x in (True, False)
        for n in threads
    }
    timing = time_interleaved(
        {name: invoke_task(STARTER, o, image=photo) for name, o in settings.items()}, rounds=args.rounds
    )
    names = list(settings)
    print(f"1. {STARTER}, threads and XNNPACK\n\n{timing.table()}\n")
    on, off = names[: len(threads)], names[len(threads) :]  # the same thread counts, XNNPACK on, then off
    one_change = list(pairwise(on)) + list(pairwise(off)) + list(zip(on, off, strict=True))
    print(ratios(timing, one_change) + "\n")

    quant = {
        f"{scheme}, {n} thread{'s' * (n > 1)}, XNNPACK {'on' if x else 'off'}": invoke_task(
            model, RuntimeOptions(num_threads=n, xnnpack=x), image=photo
        )
        for n in sorted({cores, 1}, reverse=True)
        for x in (True, False)
        for scheme, model in V3PLUS.items()
    }
    timing = time_interleaved(quant, rounds=max(5, args.rounds // 2))
    print(f"2. v3+ MobileNetV2 ADE20K, uint8 and int8\n\n{timing.table()}\n")
    names = list(quant)
    print(ratios(timing, [(a, b) for a, b in zip(names[::2], names[1::2], strict=True)]) + "\n")
    for scheme, model in V3PLUS.items():
        print(f"- {scheme}: {kernel_plan(model, RuntimeOptions(num_threads=cores)).describe()}")

    timing = time_interleaved(
        {m: invoke_task(m, RuntimeOptions(num_threads=cores), image=photo) for m in WIDTHS}, rounds=args.rounds
    )
    print(f"\n3. Channel widths, input size and number format, {cores} threads\n\n{timing.table()}\n")
    print("| model | input | output stride | first conv channels | GMACs | median ms | XNNPACK |")
    print("|---|---|---:|---:|---:|---:|---|")
    for m in WIDTHS:
        graph, plan = read_graph(m), kernel_plan(m, RuntimeOptions(num_threads=cores))
        s = graph.summary
        print(
            f"| {m} | {s.input_size[0]} px {load_model(m).input_dtype} | {s.output_stride} | {graph.layers[0].output_shape[-1]} "
            f"| {compute_cost(m).total_macs / 1e9:.2f} | {timing.stat(m).median_ms:.1f} | {plan.describe()} |"
        )
    print()
    print(ratios(timing, [(WIDTHS[1], WIDTHS[2]), (WIDTHS[0], WIDTHS[1])]))


if __name__ == "__main__":
    main()
