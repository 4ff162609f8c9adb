"""How much the pipeline adds to bare inference: median `Segmenter.segment()` vs median `invoke()`.

Same process, same model (the starter model), same thread count, `cat.bmp` already decoded,
the two measured interleaved so that machine load affects both alike. Target: <= 1.25x.

    python benchmarks/segment_overhead.py [--runs 200] [--threads N] [--model deeplabv3-starter]
"""

from __future__ import annotations

import argparse
import statistics
import time

from deeplab_widgets import RuntimeOptions, Segmenter, load_sample
from deeplab_widgets.core.runtime import cpu_count, make_interpreter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--model", default="deeplabv3-starter")
    parser.add_argument("--resize", default="stretch")
    args = parser.parse_args()

    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=args.threads), resize=args.resize)
    image = load_sample("cat")
    # Bare invoke() of the unmodified model file (the Segmenter runs it with an ARG_MAX head grafted on).
    interpreter = make_interpreter(segmenter.spec.content, segmenter.options)
    for _ in range(10):
        segmenter.segment(image)
    invoke, segment, stages = [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        interpreter.invoke()
        invoke.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = segmenter.segment(image)
        segment.append(time.perf_counter() - t0)
        stages.append(result.timings)

    inv, seg = statistics.median(invoke) * 1e3, statistics.median(segment) * 1e3
    print(f"model {args.model}, {args.threads} threads, resize {args.resize}, cat.bmp {image.width}x{image.height}")
    print(f"median invoke()             {inv:7.2f} ms")
    print(f"median segment()            {seg:7.2f} ms   ratio {seg / inv:.2f}x (target <= 1.25x)")
    for name in ("preprocess_ms", "invoke_ms", "postprocess_ms"):
        print(f"  median {name:19} {statistics.median(getattr(t, name) for t in stages):7.2f} ms")


if __name__ == "__main__":
    main()
