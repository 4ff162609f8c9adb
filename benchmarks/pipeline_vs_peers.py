"""This project's pipeline against raw invoke() and against peer libraries, in one process.

Same model (the starter DeepLab v3), same decoded photo, same cores: raw `invoke()` alone, this project's
`Segmenter.segment()` to an original-resolution class map, MediaPipe Tasks `ImageSegmenter` (category mask
at the photo's size) and, where it installs, the TFLite Task Library `ImageSegmenter`. Contenders run
interleaved (one call each per round) so background load hits them alike; medians and ratios to raw
invoke are printed. MediaPipe has no thread setting, so the whole process is pinned to `--threads` cores.

    pip install -e '.[bench]'
    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python benchmarks/pipeline_vs_peers.py

tflite-support 0.4.4 (the Task Library's last release) needs numpy<2, so it cannot share this process
with numpy 2; give `--task-library-python` an interpreter of a separate venv
(`pip install "numpy<2" tflite-support pillow`) to time it there, on the same photo file and cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from deeplab_widgets import RuntimeOptions, Segmenter, load_sample, sample_path
from deeplab_widgets.assets.zoo import fetch_model
from deeplab_widgets.core.preprocess import fit, write_input
from deeplab_widgets.core.runtime import cpu_count, make_interpreter
from deeplab_widgets.workflows.bench import LatencyStats, machine_description

MODEL = "deeplabv3-starter"


def raw_invoke(segmenter: Segmenter, photo) -> Callable[[], None]:
    """A fresh interpreter holding the photo as input: each call is one `invoke()` and nothing else."""
    spec = segmenter.spec
    interpreter = make_interpreter(spec.content, segmenter.options)
    pixels, _ = fit(photo, spec.input_size, "stretch")
    target = interpreter.tensor(spec.input_index)()[0]
    write_input(target, pixels, spec.input_dtype, spec.input_quantization, spec.normalization)
    del target
    return interpreter.invoke


def ours(segmenter: Segmenter, photo) -> Callable[[], np.ndarray]:
    """This project's full `segment()`: preprocess, invoke, argmax, resize to the photo's size."""
    return lambda: segmenter.segment(photo).labels


def ours_from_file(segmenter: Segmenter, path) -> Callable[[], np.ndarray]:
    """`segment()` from the JPEG file, the way users call it: reduced-scale decode, class map at full size."""
    return lambda: segmenter.segment(path).labels


def mediapipe_segmenter(photo, closers: list) -> tuple[Callable[[], np.ndarray] | None, str]:
    """MediaPipe Tasks ImageSegmenter with a category mask, or None and why not."""
    try:
        import mediapipe as mp
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision
    except ImportError as exc:
        return None, f"not installed ({exc}); pip install -e '.[bench]'"
    options = vision.ImageSegmenterOptions(
        base_options=mp_tasks.BaseOptions(model_asset_path=str(fetch_model(MODEL, progress=False))),
        output_category_mask=True,
        output_confidence_masks=False,
    )
    segmenter = vision.ImageSegmenter.create_from_options(options)
    closers.append(segmenter.close)
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(np.asarray(photo)))

    def run() -> np.ndarray:
        mask = segmenter.segment(image).category_mask.numpy_view()
        return mask.reshape(mask.shape[:2]).copy()  # the view's buffer is reused by the next call

    return run, f"mediapipe {mp.__version__}"


def task_library_segmenter(photo, threads: int) -> tuple[Callable[[], np.ndarray] | None, str]:
    """The TFLite Task Library ImageSegmenter (tflite-support) in this process, or None and why not."""
    try:
        from tflite_support.task import core, processor, vision
    except ImportError as exc:
        return None, (
            f"not importable here ({type(exc).__name__}: {exc}); tflite-support 0.4.4, the last release, "
            f"needs numpy<2 and this environment has numpy {np.__version__} (see --task-library-python)"
        )
    base = core.BaseOptions(file_name=str(fetch_model(MODEL, progress=False)), num_threads=threads)
    options = vision.ImageSegmenterOptions(
        base_options=base,
        segmentation_options=processor.SegmentationOptions(output_type=processor.OutputType.CATEGORY_MASK),
    )
    segmenter = vision.ImageSegmenter.create_from_options(options)
    pixels = np.ascontiguousarray(np.asarray(photo))  # TensorImage only borrows the buffer: keep it alive
    tensor = vision.TensorImage.create_from_array(pixels)

    def run() -> np.ndarray:
        return np.array(segmenter.segment(tensor).segmentations[0].category_mask)  # a copy: the buffer is reused

    run.pixels = pixels
    return run, "tflite-support, in this process"


#: Run by `--task-library-python` in an interpreter that has tflite-support (and numpy<2): times the
#: Task Library on the same photo file and prints the timings and the mask as JSON.
TASK_LIBRARY_CHILD = """
import json, sys, time
import numpy as np
from PIL import Image
from tflite_support.task import core, processor, vision
model, image, threads, runs, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
base = core.BaseOptions(file_name=model, num_threads=threads)
opts = vision.ImageSegmenterOptions(
    base_options=base, segmentation_options=processor.SegmentationOptions(output_type=processor.OutputType.CATEGORY_MASK)
)
segmenter = vision.ImageSegmenter.create_from_options(opts)
pixels = np.ascontiguousarray(np.asarray(Image.open(image).convert("RGB")))  # TensorImage only borrows it
tensor = vision.TensorImage.create_from_array(pixels)
for _ in range(warmup):
    segmenter.segment(tensor)
times = []
for _ in range(runs):
    t = time.perf_counter()
    mask = np.array(segmenter.segment(tensor).segmentations[0].category_mask)  # a copy: the buffer is reused
    times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"times": times, "mask": np.asarray(mask).reshape(mask.shape[:2]).tolist()}))
"""


def task_library_subprocess(python: str, image: str, args: argparse.Namespace) -> tuple[list[float], np.ndarray]:
    """Time the Task Library in another interpreter (same cores: the affinity is inherited)."""
    model = str(fetch_model(MODEL, progress=False))
    argv = [python, "-c", TASK_LIBRARY_CHILD, model, image, str(args.threads), str(args.runs), str(args.warmup)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=True)
    record = json.loads(done.stdout.strip().splitlines()[-1])
    return record["times"], np.asarray(record["mask"], np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--threads", type=int, default=cpu_count(), help="cores to use (default: all)")
    parser.add_argument("--image", default="kite_and_cold", help="sample photo name (default kite_and_cold)")
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    parser.add_argument(
        "--task-library-python",
        metavar="PYTHON",
        help="an interpreter with tflite-support (numpy<2) to time the Task Library in, after the others",
    )
    args = parser.parse_args(argv)

    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.threads]))
    photo = load_sample(args.image)
    segmenter = Segmenter(MODEL, RuntimeOptions(num_threads=args.threads))
    contenders: dict[str, Callable] = {
        "raw invoke()": raw_invoke(segmenter, photo),
        "deeplab-widgets segment()": ours(segmenter, photo),
        "deeplab-widgets segment(file)": ours_from_file(segmenter, sample_path(args.image)),
    }
    notes, closers = {}, []
    for name, (run, note) in {
        "MediaPipe ImageSegmenter": mediapipe_segmenter(photo, closers),
        "TFLite Task Library ImageSegmenter": task_library_segmenter(photo, args.threads),
    }.items():
        notes[name] = note
        if run is not None:
            contenders[name] = run

    masks = {name: run() for name, run in contenders.items() if name != "raw invoke()"}
    for _ in range(args.warmup):
        for run in contenders.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, run in contenders.items():
            t = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t) * 1e3)
    load_after = os.getloadavg()[0]

    tl_name = "TFLite Task Library ImageSegmenter"
    if tl_name not in contenders and args.task_library_python:
        tl_times, tl_mask = task_library_subprocess(args.task_library_python, str(sample_path(args.image)), args)
        name = f"{tl_name} (subprocess)"
        times[name], masks[name] = tl_times, tl_mask
        notes[tl_name] = (
            f"timed in {args.task_library_python} after the interleaved rounds (not interleaved); "
            f"its category mask is {tl_mask.shape[1]}x{tl_mask.shape[0]} (model resolution), not the photo's size"
        )
    stats = {name: LatencyStats.from_samples(t) for name, t in times.items()}
    base = stats["raw invoke()"].median_ms
    w, h = photo.size
    print(f"{MODEL} on {args.image} ({w}x{h}), {args.threads} core(s) of {machine_description()}")
    print(
        f"{args.runs} interleaved rounds after {args.warmup} warm-up; load average {load_before:.1f} -> {load_after:.1f}"
    )
    print("the bound: raw invoke() (ratios below are to it; segment() of the decoded photo: target <= 1.25x at 1.2 MP)")
    print(f"{'contender':36} {'median ms':>9} {'p5':>7} {'p95':>7} {'x raw invoke':>12}")
    for name, s in stats.items():
        print(f"{name:36} {s.median_ms:9.1f} {s.p5_ms:7.1f} {s.p95_ms:7.1f} {s.median_ms / base:12.2f}")
    for name, note in notes.items():
        print(f"{name}: {note}")
    ours_mask = masks["deeplab-widgets segment()"]
    for name, mask in masks.items():
        if name == "deeplab-widgets segment()":
            continue
        mask = np.asarray(mask, np.uint8).reshape(np.shape(mask)[:2])
        if mask.shape != ours_mask.shape:  # a model-resolution mask: scale it to the photo to compare
            mask = np.asarray(Image.fromarray(mask).resize(photo.size, Image.NEAREST))
        print(f"class-map agreement, deeplab-widgets vs {name}: {np.mean(mask == ours_mask):.1%}")
    for close in closers:
        close()
    if args.json:
        record = {
            "model": MODEL,
            "image": str(sample_path(args.image).name),
            "threads": args.threads,
            "machine": machine_description(),
            "load_average": [load_before, load_after],
            "stats": {name: s.to_dict() for name, s in stats.items()},
            "notes": notes,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
