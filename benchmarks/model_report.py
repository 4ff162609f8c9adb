"""The engineers' model report: every zoo model and the quantized variants of the float one, measured in one run.

Size, bare `invoke()` and whole `segment()` medians at 1 thread (XNNPACK on, the phone-like default) and 2 threads,
timed round-robin; mIoU and pixel accuracy on the labelled VOC or ADE20K images where the model's classes have
some; agreement with the float model on photos a variant was not calibrated on; peak memory in a fresh process.
The same as `deeplab-widgets model-report`, saving the table as CSV and HTML too.

    python benchmarks/model_report.py [--rounds 10] [--out build/model_report]

Prints the Markdown table for benchmarks/RESULTS.md; writes <out>.csv and <out>.html.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.model_report import model_report

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--count", type=int, default=8, help="calibration photos (the sample photos)")
    parser.add_argument("--out", default=str(ROOT / "build" / "model_report"), help="path stem of the CSV and HTML")
    args = parser.parse_args()
    report = model_report(count=args.count, rounds=args.rounds, progress=True)
    print(f"Machine: {machine_description()}; ai-edge-litert {version('ai-edge-litert')}, ", end="")
    print(f"litert-quantizer {version('litert-quantizer')}\n")
    print(report.table())
    for suffix in (".csv", ".html"):
        print(f"saved: {report.save(Path(args.out).with_suffix(suffix))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
