"""Frames per second of `segment_video` over the cockatoo clip against the bound of one `invoke()` per frame.

Interleaved in one run (the machine may be shared): each round times bare `invoke()` calls, then
`segment_video` over the whole clip (class maps only, its default: two frames at once on two 1-thread
interpreters), then more bare `invoke()` calls, then the same with one 2-thread interpreter (`interpreters=1`,
one frame at a time), then decoding and scaling alone with the reader's decoding and its former one (FFmpeg's
default threads, packed RGB out of the scaler), then a naive loop (full-resolution RGB decode, then `segment()`) for comparison, then the
overlay-video path (decode, model, overlay at 1280x720, H.264 encoding), then H.264 encoding alone on
pre-rendered frames. Besides wall-clock rates it reports CPU time per frame (all threads of the process,
`time.process_time()`), which depends less on other load than wall time does.

    python benchmarks/video_throughput.py [--rounds 5] [--threads 2] [--model deeplabv3-starter]
    python benchmarks/video_throughput.py --class-maps-only    # skip the naive, overlay and encoding rows
    python benchmarks/video_throughput.py --flicker    # flicker with and without smoothing (no timing)
    python benchmarks/video_throughput.py --agreement  # cheaper decodings: CPU per frame, class-map agreement
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from deeplab_widgets import RuntimeOptions, Segmenter, Size
from deeplab_widgets.core.preprocess import Placement
from deeplab_widgets.viz.masks import overlay
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.video import FlickerMeter, VideoReader, VideoWriter, reader, segment_video, video_info
from deeplab_widgets.workflows.video.outputs import write_video_outputs
from deeplab_widgets.workflows.video.segment import model_size


def bare_invoke_s(segmenter: Segmenter, runs: int) -> tuple[list[float], float]:
    """Seconds of each of `runs` calls of `invoke()` alone (the input tensor already set), and CPU seconds in all."""
    runner = segmenter.runner
    times = []
    c0 = time.process_time()
    with runner.lock:
        for _ in range(runs):
            t0 = time.perf_counter()
            runner.invoke()
            times.append(time.perf_counter() - t0)
    return times, time.process_time() - c0


SHIPPED = (reader.FFMPEG_THREADS, reader.SCALED_FORMAT)
FORMER = (0, "rgb24")  # FFmpeg's default threads, packed RGB: bit-identical frames, more CPU


def use_decoding(setting: tuple[int, str]) -> None:
    """Set the reader's FFmpeg threads and scaler output format (SHIPPED or FORMER)."""
    reader.FFMPEG_THREADS, reader.SCALED_FORMAT = setting


def class_map_fps(segmenter: Segmenter, clip: str, interpreters: int | None) -> tuple[float, float]:
    """Frames per second of `segment_video` (class maps only) and CPU ms per frame (all threads)."""
    c0, t0 = time.process_time(), time.perf_counter()
    n = sum(1 for _ in segment_video(clip, segmenter, interpreters=interpreters, progress=False))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, cpu / n * 1e3


def decode_cpu_ms(clip: str, size: Size, setting: tuple[int, str]) -> float:
    """CPU ms per frame (all threads) of decoding and scaling the clip to `size` alone, as the reader does it."""
    use_decoding(setting)
    c0 = time.process_time()
    with VideoReader(clip, size) as frames:
        n = sum(1 for _ in frames)
    return (time.process_time() - c0) / n * 1e3


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
    t0 = time.perf_counter()
    with VideoWriter(out, Size.of(frames[0]), rate) as writer:
        for frame in frames:
            writer.write(frame)
    return (time.perf_counter() - t0) / len(frames) * 1e3


def first_top(tops: tuple[int, ...], class_id: int) -> int:
    """The first frame whose top class is `class_id` (-1 if none)."""
    return next((i for i, t in enumerate(tops) if t == class_id), -1)


#: The reader's decoding with one change each: (name, FFmpeg threads, scaler output, decoder options, scaler, via
#: YUV at the model size). The first row is the reader's own; the second its former setting.
DECODINGS: list[tuple[str, int, str, dict[str, str], str, bool]] = [
    ("the reader: one FFmpeg thread, AREA to gbrp", 1, "gbrp", {}, "AREA", False),
    ("FFmpeg's default threads, AREA to rgb24 (the former reader)", 0, "rgb24", {}, "AREA", False),
    ("skip the deblocking filter on every frame (skip_loop_filter=all)", 1, "gbrp", {"skip_loop_filter": "all"},
     "AREA", False),
    ("skip it on non-reference frames (skip_loop_filter=noref)", 1, "gbrp", {"skip_loop_filter": "noref"}, "AREA",
     False),
    ("FAST_BILINEAR scaler instead of AREA", 1, "gbrp", {}, "FAST_BILINEAR", False),
    ("AREA to YUV 4:4:4 at the model size, then to RGB", 1, "gbrp", {}, "AREA", True),
]  # fmt: skip


def decode_variant(
    clip: str, size: Size, *, threads: int, fmt: str, options: dict[str, str], scaler: str, via_yuv: bool
) -> tuple[list[np.ndarray], float]:
    """The clip's frames at `size` (RGB) decoded and scaled one way, and the CPU ms per frame it took (all threads)."""
    import av

    height, width = size
    pixels = []
    c0 = time.process_time()
    with av.open(str(video_info(clip).path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        stream.codec_context.options = dict(options)
        for frame in container.decode(stream):
            scaled_format = "yuv444p" if via_yuv else fmt
            small = frame.reformat(
                width=width, height=height, format=scaled_format, interpolation=scaler, threads=threads
            )
            if via_yuv:
                small = small.reformat(format=fmt, threads=threads)
            pixels.append(small.to_ndarray())
    return pixels, (time.process_time() - c0) / len(pixels) * 1e3


def agreement_table(segmenter: Segmenter, clip: str) -> None:
    """Class maps of the clip decoded in cheaper ways against the reader's, with the CPU each decoding takes."""
    size = model_size(segmenter, video_info(clip).size)
    placement = Placement(size, size)

    def top(result) -> str:
        classes = [c for c in result.present_classes() if c.id != 0]
        return classes[0].name if classes else "background"

    print("| decoding | CPU ms per frame (decode + scale, all threads) | frames identical to the reader's | class-map "
          "pixels in agreement (mean) | worst frame | frames with the same class list | majority top class |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    reference: tuple[list[np.ndarray], list] | None = None
    for name, threads, fmt, options, scaler, via_yuv in DECODINGS:
        pixels, cpu = decode_variant(
            clip, size, threads=threads, fmt=fmt, options=options, scaler=scaler, via_yuv=via_yuv
        )
        results = [segmenter.segment_fitted(p, placement) for p in pixels]
        if reference is None:
            reference = pixels, results
        same = sum(np.array_equal(a, b) for a, b in zip(pixels, reference[0], strict=True))
        agree = [float(np.mean(a.labels == b.labels)) for a, b in zip(results, reference[1], strict=True)]
        lists = sum(
            [c.name for c in a.present_classes()] == [c.name for c in b.present_classes()]
            for a, b in zip(results, reference[1], strict=True)
        )
        majority = Counter(top(r) for r in results).most_common(1)[0][0]
        print(
            f"| {name} | {cpu:.2f} | {same} of {len(pixels)} | {np.mean(agree):.2%} | {min(agree):.1%} | {lists} "
            f"| {majority} |",
            flush=True,
        )


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
    parser.add_argument("--agreement", action="store_true", help="print the cheaper-decoding table instead")
    parser.add_argument("--class-maps-only", action="store_true", help="skip the naive, overlay and encoding rows")
    parser.add_argument("--weights", default="0,0.3,0.6,0.8", help="smoothing weights for --flicker")
    args = parser.parse_args()

    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=args.threads))
    if args.agreement:
        agreement_table(segmenter, args.clip)
        return
    if args.flicker:
        flicker_table(segmenter, args.clip, [float(w) for w in args.weights.split(",")])
        return
    info = video_info(args.clip)
    size = model_size(segmenter, info.size)
    overlays = [] if args.class_maps_only else [overlay(f.image, f.segmentation, 0.5) for f in segment_video(
        args.clip, segmenter, full_size=True, frames=True, limit=60, progress=False)]  # fmt: skip
    bounds, fps, naive, over, enc, loads = [], [], [], [], [], []
    fps_default, invoke_cpu, cpu, cpu_default, dec_cpu, dec_cpu_default = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        segmenter.segment(np.zeros((8, 8, 3), np.uint8))  # warm-up
        for round_ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            # Bare invokes before, between and after the two clip runs (in alternating order): all see the
            # same machine.
            first, second = (None, 1) if round_ % 2 == 0 else (1, None)
            before, c_before = bare_invoke_s(segmenter, args.invokes // 3)
            run_first = class_map_fps(segmenter, args.clip, first)
            between, c_between = bare_invoke_s(segmenter, args.invokes // 3)
            run_second = class_map_fps(segmenter, args.clip, second)
            after, c_after = bare_invoke_s(segmenter, args.invokes // 3)
            (f, c), (f0, c0) = (run_first, run_second) if first is None else (run_second, run_first)
            fps.append(f)
            cpu.append(c)
            fps_default.append(f0)
            cpu_default.append(c0)
            bounds.append(1 / statistics.median(before + between + after))
            invoke_cpu.append((c_before + c_between + c_after) / (len(before) * 3) * 1e3)
            dec_cpu.append(decode_cpu_ms(args.clip, size, SHIPPED))
            dec_cpu_default.append(decode_cpu_ms(args.clip, size, FORMER))
            use_decoding(SHIPPED)
            line = (
                f"round (load {loads[-1]:.2f}): bound {bounds[-1]:.1f} fps, segment_video {fps[-1]:.1f} fps "
                f"(ratio {fps[-1] / bounds[-1]:.2f}), with one interpreter {fps_default[-1]:.1f} fps "
                f"(ratio {fps_default[-1] / bounds[-1]:.2f}); CPU ms per frame: invoke {invoke_cpu[-1]:.1f}, "
                f"segment_video {cpu[-1]:.1f} / {cpu_default[-1]:.1f} (default / one interpreter), decode+scale "
                f"{dec_cpu[-1]:.2f} / {dec_cpu_default[-1]:.2f} (the reader's / former decoding)"
            )
            if not args.class_maps_only:
                naive.append(naive_fps(segmenter, args.clip))
                over.append(overlay_video_fps(segmenter, args.clip, Path(tmp) / "overlay.mp4"))
                enc.append(encode_ms(overlays, Path(tmp) / "encode.mp4", info.fps))
                line += (
                    f"; naive loop {naive[-1]:.1f} fps, overlay video {over[-1]:.1f} fps, encode {enc[-1]:.1f} ms/frame"
                )
            print(line, flush=True)
    ratios = [f / b for f, b in zip(fps, bounds, strict=True)]
    ratios_default = [f / b for f, b in zip(fps_default, bounds, strict=True)]
    print()
    print(f"clip: {Path(info.path).name} {info.width}x{info.height} {info.fps:g} fps {info.frames} frames")
    print(f"model: {args.model}, {args.threads} threads; machine: {machine_description()}; {platform.python_version()}")
    print(f"load average (1 min) at each round: {', '.join(f'{x:.2f}' for x in loads)}")
    print()
    print("| measure | median of rounds |")
    print("|---|---|")
    print(f"| bound: 1000 / median bare invoke ms | {statistics.median(bounds):.1f} frames/s |")
    print(
        f"| segment_video, class maps only (default: 2 interpreters x 1 thread) | {statistics.median(fps):.1f} frames/s |"
    )
    print(
        f"| ratio to the bound (per round: {', '.join(f'{r:.2f}' for r in ratios)}) | {statistics.median(ratios):.2f} |"
    )
    print(
        f"| segment_video, interpreters=1 (one 2-thread interpreter) | {statistics.median(fps_default):.1f} frames/s |"
    )
    print(
        f"| its ratio to the bound (per round: {', '.join(f'{r:.2f}' for r in ratios_default)}) "
        f"| {statistics.median(ratios_default):.2f} |"
    )
    print(f"| CPU per bare invoke (all threads) | {statistics.median(invoke_cpu):.1f} ms |")
    print(f"| CPU per frame of segment_video (all threads) | {statistics.median(cpu):.1f} ms |")
    print(f"| the same, interpreters=1 | {statistics.median(cpu_default):.1f} ms |")
    print(
        f"| CPU per frame of decoding and scaling alone (one FFmpeg thread, gbrp) | {statistics.median(dec_cpu):.2f} ms |"
    )
    print(f"| the same, former decoding | {statistics.median(dec_cpu_default):.2f} ms |")
    if args.class_maps_only:
        return
    naive_ratios = [f / b for f, b in zip(naive, bounds, strict=True)]
    print(f"| naive loop: full-resolution RGB decode, then segment() | {statistics.median(naive):.1f} frames/s |")
    print(f"| naive loop's ratio to the bound | {statistics.median(naive_ratios):.2f} |")
    print(f"| overlay video (decode, model, 1280x720 overlay, H.264 encode) | {statistics.median(over):.1f} frames/s |")
    print(f"| H.264 encoding alone (libx264 ultrafast, 1280x720) | {statistics.median(enc):.1f} ms/frame |")


if __name__ == "__main__":
    main()
