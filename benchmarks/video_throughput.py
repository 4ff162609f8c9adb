"""Frames per second of `segment_video` over the cockatoo clip against the bound of one `invoke()` per frame.

Interleaved in one run (the machine may be shared): each round times bare `invoke()` calls, then
`segment_video` over the whole clip (class maps only), then more bare `invoke()` calls, then a naive
loop (full-resolution RGB decode, then `segment()`) for comparison, then the overlay-video path
(decode, model, overlay at 1280x720, H.264 encoding), then H.264 encoding alone on pre-rendered frames.

    python benchmarks/video_throughput.py [--rounds 5] [--threads 2] [--model deeplabv3-starter]
    python benchmarks/video_throughput.py --flicker    # flicker with and without smoothing (no timing)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from deeplab_widgets import RuntimeOptions, Segmenter
from deeplab_widgets.viz.masks import overlay
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.video import FlickerMeter, VideoWriter, segment_video, video_info
from deeplab_widgets.workflows.video.outputs import write_video_outputs


def bare_invoke_s(segmenter: Segmenter, runs: int) -> list[float]:
    """Seconds of each of `runs` calls of `invoke()` alone (the input tensor already set)."""
    runner = segmenter.runner
    times = []
    with runner.lock:
        for _ in range(runs):
            t0 = time.perf_counter()
            runner.invoke()
            times.append(time.perf_counter() - t0)
    return times


def class_map_fps(segmenter: Segmenter, clip: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = sum(1 for _ in segment_video(clip, segmenter, progress=False))
    return n / (time.perf_counter() - t0), n


def naive_fps(segmenter: Segmenter, clip: str) -> float:
    """The first approach, for comparison: full-resolution RGB decode, then `segment()`, one thread."""
    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(str(video_info(clip).path)) as container:
        for frame in container.decode(video=0):
            segmenter.segment(frame.to_ndarray(format="rgb24"))
            n += 1
    return n / (time.perf_counter() - t0)


def overlay_video_fps(segmenter: Segmenter, clip: str, out: Path) -> float:
    run = write_video_outputs(
        clip,
        segmenter,
        out=out,
        overlay=True,
        render=lambda f: overlay(f.image, f.segmentation, 0.5),
        progress=False,
    )
    return run.fps


def encode_ms(frames: list[np.ndarray], out: Path, rate: float) -> float:
    """Milliseconds per frame of H.264 encoding alone (the frames are already rendered)."""
    h, w = frames[0].shape[:2]
    t0 = time.perf_counter()
    with VideoWriter(out, (w, h), rate) as writer:
        for frame in frames:
            writer.write(frame)
    return (time.perf_counter() - t0) / len(frames) * 1e3


def first_top(tops: tuple[int, ...], class_id: int) -> int:
    """The first frame whose top class is `class_id` (-1 if none)."""
    return next((i for i, t in enumerate(tops) if t == class_id), -1)


def flicker_table(segmenter: Segmenter, clip: str, weights: list[float]) -> None:
    """Flicker of the clip's class maps (model resolution) for each smoothing weight."""
    print("| smoothing weight | pixels changing class per frame (mean) | max | frames off the majority class "
          "| top-class switches | first frame with the bird on top |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for weight in weights:
        meter = FlickerMeter()
        for frame in segment_video(clip, segmenter, smooth=weight, progress=False):
            meter.add(frame.labels)
        f = meter.result()
        name = segmenter.class_names[f.majority]
        print(
            f"| {weight:g} | {f.mean_changed:.2%} | {f.max_changed:.1%} | {f.off_majority} of {f.frames} "
            f"(majority: {name}) | {f.top_switches} | {first_top(f.top, f.majority)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="cockatoo", help="video file or sample name (default: cockatoo)")
    parser.add_argument("--model", default="deeplabv3-starter")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--invokes", type=int, default=100, help="bare invokes per round")
    parser.add_argument("--flicker", action="store_true", help="print the flicker table instead of timing")
    parser.add_argument("--weights", default="0,0.3,0.6,0.8", help="smoothing weights for --flicker")
    args = parser.parse_args()

    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=args.threads))
    if args.flicker:
        flicker_table(segmenter, args.clip, [float(w) for w in args.weights.split(",")])
        return
    info = video_info(args.clip)
    overlays = [overlay(f.image, f.segmentation, 0.5) for f in segment_video(
        args.clip, segmenter, full_size=True, frames=True, limit=60, progress=False)]  # fmt: skip
    bounds, fps, naive, over, enc, loads = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        segmenter.segment(np.zeros((8, 8, 3), np.uint8))  # warm-up
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            # Half the bare invokes just before the clip, half just after: both see the same machine.
            before = bare_invoke_s(segmenter, args.invokes // 2)
            fps.append(class_map_fps(segmenter, args.clip)[0])
            bounds.append(1 / statistics.median(before + bare_invoke_s(segmenter, args.invokes // 2)))
            naive.append(naive_fps(segmenter, args.clip))
            over.append(overlay_video_fps(segmenter, args.clip, Path(tmp) / "overlay.mp4"))
            enc.append(encode_ms(overlays, Path(tmp) / "encode.mp4", info.fps))
            print(
                f"round: bound {bounds[-1]:.1f} fps, segment_video {fps[-1]:.1f} fps "
                f"(ratio {fps[-1] / bounds[-1]:.2f}), naive loop {naive[-1]:.1f} fps, overlay video {over[-1]:.1f} fps, encode {enc[-1]:.1f} ms/frame"
            )
    ratios = [f / b for f, b in zip(fps, bounds, strict=True)]
    print()
    print(f"clip: {Path(info.path).name} {info.width}x{info.height} {info.fps:g} fps {info.frames} frames")
    print(f"model: {args.model}, {args.threads} threads; machine: {machine_description()}; {platform.python_version()}")
    print(f"load average (1 min) at each round: {', '.join(f'{x:.2f}' for x in loads)}")
    print()
    print("| measure | median of rounds |")
    print("|---|---|")
    print(f"| bound: 1000 / median bare invoke ms | {statistics.median(bounds):.1f} frames/s |")
    print(f"| segment_video, class maps only | {statistics.median(fps):.1f} frames/s |")
    print(
        f"| ratio to the bound (per round: {', '.join(f'{r:.2f}' for r in ratios)}) | {statistics.median(ratios):.2f} |"
    )
    naive_ratios = [f / b for f, b in zip(naive, bounds, strict=True)]
    print(f"| naive loop: full-resolution RGB decode, then segment() | {statistics.median(naive):.1f} frames/s |")
    print(f"| naive loop's ratio to the bound | {statistics.median(naive_ratios):.2f} |")
    print(f"| overlay video (decode, model, 1280x720 overlay, H.264 encode) | {statistics.median(over):.1f} frames/s |")
    print(f"| H.264 encoding alone (libx264 ultrafast, 1280x720) | {statistics.median(enc):.1f} ms/frame |")


if __name__ == "__main__":
    main()
