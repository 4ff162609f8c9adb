"""What test-time augmentation buys: flip, multi-scale (0.75/1/1.25) and both, on the VOC and ADE20K pairs.

Every model is scored plain and with each TTA on the same images in one run; the time is the median
wall-clock time per image (preprocessing, every model run, averaging and postprocessing included), so the
cost is a ratio to the plain median of the same run. The PASCAL models are scored on the 15 VOC val pairs,
the two v3+ ADE20K models on the 3 ADE20K pairs (annotation ids above 31 mapped to 0, "other").

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images:../shared/eval python benchmarks/tta.py [--threads N]

15 and 3 images are a sanity check, not a benchmark: differences of a point or two of mIoU are within noise.
"""

from __future__ import annotations

import argparse
import os
import platform
from importlib.metadata import version

from deeplab_widgets import Segmenter, labelled_pairs
from deeplab_widgets.core.runtime import RuntimeOptions, cpu_count
from deeplab_widgets.workflows.evaluate import evaluate

RUNS = {
    "voc": ("deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc"),
    "ade20k": ("deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8"),
}
TTAS = (None, "flip", "multiscale", "multiscale+flip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--only", choices=list(RUNS), help="one dataset only")
    args = parser.parse_args()
    options = RuntimeOptions(num_threads=args.threads)
    datasets = {
        "voc": labelled_pairs("pascal_voc"),
        "ade20k": labelled_pairs("ade20k-32"),
    }
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {os.cpu_count()} cores, ai-edge-litert {version('ai-edge-litert')}, {options.describe()}")
    print("\n| dataset | model | TTA | mIoU | pixel acc. | median ms/image | time vs plain |")
    print("|---|---|---|---|---|---|---|")
    for key, models in RUNS.items():
        if args.only and key != args.only:
            continue
        ds = datasets[key]
        for name in models:
            seg = Segmenter(name, options)
            base = None
            for tta in TTAS:
                e = evaluate(seg, ds, tta=tta, progress=False)
                base = base or e
                print(
                    f"| {ds.name} ({len(ds)}) | {name} | {tta or 'none'} | {e.miou:.4f} | {e.pixel_accuracy:.4f} "
                    f"| {e.median_ms:.0f} | {e.median_ms / base.median_ms:.1f}x |",
                    flush=True,
                )
    print(f"\nload average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)")


if __name__ == "__main__":
    main()
