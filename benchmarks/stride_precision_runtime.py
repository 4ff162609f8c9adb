"""Output stride: the oracle accuracy bound from VOC ground truth, the compute, and interleaved latencies.

Prints three Markdown tables: (1) for output strides 4, 8, 16, 32 the oracle's mIoU and accuracy within 3 px of a
boundary on the 15 VOC val masks (no model runs: deterministic) with the MACs of the starter network rebuilt at
each stride; (2) `invoke()` of the starter (OS 8), the dm0.5 Coral model (OS 16, same network) and the v3+ int8
model (OS 4 logits), timed round-robin in one run; (3) the v3+ network as uint8 and int8, XNNPACK on and off,
round-robin. Latencies are medians with the 5-95% range and the load average around the run; compare them as
ratios within a table.

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images:../shared/eval python benchmarks/stride_precision_runtime.py [--rounds N]
"""

from __future__ import annotations

import argparse
import platform
from importlib.metadata import version

from deeplab_widgets import RuntimeOptions, labelled_pairs, load_sample, read_graph
from deeplab_widgets.analysis.concepts import output_stride_costs
from deeplab_widgets.core.runtime import cpu_count
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.interleaved import invoke_task, time_interleaved
from deeplab_widgets.workflows.stride import oracle_bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"{machine_description()}, {platform.python_version()}, ai-edge-litert {version('ai-edge-litert')}\n")
    voc = labelled_pairs("pascal_voc")
    costs = {c.output_stride: c for c in output_stride_costs(read_graph("deeplabv3-starter"), (4, 8, 16, 32))}
    print("| output stride | oracle mIoU | oracle accuracy within 3 px of a boundary | starter GMACs at 257 px |")
    print("|---:|---:|---:|---:|")
    for b in oracle_bound(voc):
        print(
            f"| {b.output_stride} | {b.miou:.3f} | {b.boundary_accuracy:.3f} | {costs[b.output_stride].macs / 1e9:.2f} |"
        )
    photo = load_sample("bird_segmentation")
    threads = RuntimeOptions(num_threads=cpu_count())
    models = {
        "starter, OS 8": "deeplabv3-starter",
        "dm0.5, OS 16": "deeplabv3-mnv2-dm05-voc",
        "v3+ int8, OS 4 logits": "deeplabv3plus-mnv2-ade20k-int8",
    }
    timing = time_interleaved({k: invoke_task(m, threads, image=photo) for k, m in models.items()}, rounds=args.rounds)
    print(f"\n{timing.table()}\n")
    quant = time_interleaved(
        {
            f"v3+ {q}, XNNPACK {'on' if x else 'off'}": invoke_task(
                m, RuntimeOptions(num_threads=cpu_count(), xnnpack=x), image=photo
            )
            for q, m in (("uint8", "deeplabv3plus-mnv2-ade20k"), ("int8", "deeplabv3plus-mnv2-ade20k-int8"))
            for x in (True, False)
        },
        rounds=max(3, args.rounds // 2),
    )
    print(quant.table())
    print("\n" + quant.verdict("v3+ uint8, XNNPACK on", "v3+ int8, XNNPACK on"))
    print(quant.verdict("v3+ uint8, XNNPACK off", "v3+ int8, XNNPACK off"))


if __name__ == "__main__":
    main()
