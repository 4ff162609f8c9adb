"""The `deeplab-widgets` command line: models, samples, segmentation and benchmarks."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .assets import samples, zoo
from .core.preprocess import RESIZE_MODES
from .core.runtime import RuntimeOptions, cpu_count
from .core.segmenter import as_segmenter
from .errors import DeeplabWidgetsError, OptionsError
from .workflows.batch import SUMMARY_NAME, Dask, Engine, Processes, Serial, Threads, segment_many
from .workflows.quantize import DEFAULT_COUNT, RECIPES

DEFAULT_SAMPLE = "cat"


def _models(args: argparse.Namespace) -> int:
    if args.action == "list":
        for m in zoo.list_models():
            print(
                f"{m.name:34} {m.dataset:11} {m.input_size}x{m.input_size} {m.input_dtype:8} {m.output:9} {m.backbone}"
            )
    elif args.action == "info":
        for name in args.names or zoo.model_names():
            m = zoo.model_info(name)
            for key, value in vars(m).items():
                print(f"{key:12} {value}")
            print()
    else:
        for name in args.names or zoo.model_names():
            print(f"{name}: {zoo.fetch_model(name)}")
    return 0


def _samples(args: argparse.Namespace) -> int:
    for s in samples.list_samples(kind=None):
        print(f"{s.name:24} {s.kind:6} {s.file:34} {s.description}")
    return 0


def engine_from_flags(workers: int | None, threads: int | None, dask: str | None) -> Engine:
    """The batch engine that `segment`'s `--workers`, `--threads` and `--dask` ask for.

    Args:
        workers: `--workers`: 1 runs serially, N > 1 in N worker processes; None: threads of this process.
        threads: `--threads`: interpreter threads (per worker or thread; default: cores divided among them).
        dask: `--dask`: a Dask scheduler's address.

    Raises:
        OptionsError: `--workers` with `--dask`, or a count out of range.
    """
    if dask is not None:
        if workers is not None:
            raise OptionsError("--workers and --dask choose two different engines: give one of them")
        return Dask(dask, interpreter_threads=threads or 1)
    if workers is not None and workers < 1:
        raise OptionsError(f"--workers must be at least 1, not {workers}")
    if workers == 1:
        return Serial()
    if workers is not None:
        return Processes(workers, interpreter_threads=threads)
    return Threads(interpreter_threads=threads)


def _segment(args: argparse.Namespace) -> int:
    if args.overlay and not args.out:
        raise OptionsError("--overlay writes files: give --out DIR")
    options = RuntimeOptions(
        num_threads=cpu_count() if args.threads is None else args.threads,
        xnnpack=not args.no_xnnpack,
        delegate=args.delegate,
        backend=args.backend,
    )
    engine = engine_from_flags(args.workers, args.threads, args.dask)
    segmenter = as_segmenter(args.model, options, labels=args.labels, resize=args.resize)
    inputs = [*args.inputs, *(samples.sample_path(n) for n in args.sample)] or [samples.sample_path(DEFAULT_SAMPLE)]
    run = segment_many(
        inputs,
        segmenter,
        args.out,
        engine=engine,
        overlay=args.overlay,
        alpha=args.alpha,
        resume=args.resume,
        summary_name=SUMMARY_NAME if args.summary else None,
        progress=False,
    )
    failures, records = 0, []
    for record in run:
        if not record.ok:
            failures += 1
            print(f"deeplab-widgets: {record.source}: {record.error}", file=sys.stderr)
            continue
        records.append(record.to_json())
        if not args.json:
            classes = ", ".join(f"{c.name} {c.fraction:.1%}" for c in record.classes)
            timings = None if record.status == "skipped" else record.timings
            timing = "kept from an earlier run" if timings is None else f"{timings.total_ms:.1f} ms"
            print(f"{Path(record.source).name}: {classes}  ({timing})")
            for key in ("mask", "overlay"):
                if getattr(record, key) is not None:
                    print(f"  {key}: {getattr(record, key)}")
    if args.json:
        print(json.dumps(records, indent=2))
    return 1 if failures else 0


def _bench(args: argparse.Namespace) -> int:
    from .workflows import bench

    render = None
    if args.pipeline:
        from .viz.render import render_overlay

        render = render_overlay
    result = bench.sweep(
        args.model or ["deeplabv3-starter"],
        threads=bench.parse_list(args.threads, int) if args.threads else None,
        xnnpack=bench.parse_list(args.xnnpack, bool),
        delegates=args.delegate or None,
        backends=[b.strip() for b in args.backend.split(",") if b.strip()],
        pipeline=args.pipeline,
        runs=args.runs,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        image=None if args.input == "random" else args.input,
        render=render,
        progress=not args.quiet,
    )
    target = args.json or args.csv
    if target == "-":
        rows = result.rows()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            bench.write_csv(rows, sys.stdout)
        return 0
    print(f"deeplab-widgets bench on {bench.machine_description()}")
    print(result.table())
    if target:
        print(f"saved: {result.save(target)}")
    return 0


#: Below this many labelled images an evaluation is reported as a sanity check, not a benchmark.
SANITY_CHECK_IMAGES = 100


def _eval(args: argparse.Namespace) -> int:
    from .workflows.datasets import ade20k_32_folder, voc_folder
    from .workflows.evaluate import evaluate

    options = RuntimeOptions(num_threads=cpu_count() if args.threads is None else args.threads)
    segmenter = as_segmenter(args.model, options, labels=args.labels, resize=args.resize)
    kind = args.dataset_labels or ("ade20k-32" if segmenter.spec.labels.name == "ade20k-32" else "pascal_voc")
    if kind == "ade20k-32":
        dataset = ade20k_32_folder(args.images, args.masks)
    else:
        dataset = voc_folder(args.images, args.masks, labels=kind, ignore_index=args.ignore)
    result = evaluate(
        segmenter,
        dataset,
        tta=args.tta,
        refine="crf" if args.crf else None,
        progress=not (args.json or args.quiet),
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    for s in result.images:
        print(f"{s.name:32} mIoU {s.miou:.3f}  pixel acc {s.metrics.pixel_accuracy:.3f}  {s.ms:6.1f} ms")
    m = result.overall
    if dataset.mapping:
        print(f"ground truth: {dataset.mapping}")
    print(f"{result.label} on {len(dataset)} images ({result.resize}, {result.options}):")
    print(f"  mIoU {m.miou:.4f} over the {len(m.present)} classes in the ground truth; {m.miou_all:.4f} over all")
    print(f"  pixel accuracy {m.pixel_accuracy:.4f}, mean class accuracy {m.mean_class_accuracy:.4f}")
    print(f"  frequency-weighted IoU {m.fw_iou:.4f}, median {result.median_ms:.1f} ms per image")
    if len(dataset) < SANITY_CHECK_IMAGES:
        print(f"{len(dataset)} images are a sanity check, not a benchmark.")
    return 0


def _derive(args: argparse.Namespace) -> int:
    from .analysis.cost import compute_cost
    from .analysis.derive import derive, save

    derived = derive(
        args.model,
        output_stride=args.output_stride,
        input_size=args.input_size,
        image_pooling=not args.no_image_pooling,
    )
    path = save(derived, args.out)
    before, after = compute_cost(args.model).total_macs, compute_cost(derived.content).total_macs
    h, w = derived.feature_size
    print(
        f"{path}: {derived.name}, encoder map {h}x{w}, {after / 1e9:.2f} GMACs "
        f"({after / before:.2f}x the source's {before / 1e9:.2f})"
    )
    for edit in derived.edits:
        print(f"  {edit}")
    return 0


def _video(args: argparse.Namespace) -> int:
    from .workflows.video.outputs import mask_frame, write_video_outputs

    if args.overlay and not args.out:
        raise OptionsError("--overlay draws into the output video: give --out OUT.mp4")
    render = mask_frame
    if args.overlay:
        from .viz.masks import overlay

        def render(frame):
            return overlay(frame.image, frame.segmentation, args.alpha)

    options = RuntimeOptions(num_threads=cpu_count() if args.threads is None else args.threads)
    run = write_video_outputs(
        args.input,
        as_segmenter(args.model, options, labels=args.labels),
        out=args.out,
        masks=args.masks,
        json_lines=sys.stdout if args.json else None,
        render=render,
        overlay=args.overlay,
        smooth=args.smooth,
        limit=args.limit,
        progress=not args.quiet,
    )
    report, flick = (sys.stderr if args.json else sys.stdout), run.flicker
    print(f"{run.path.name}: {run.frames} frames in {run.seconds:.1f} s ({run.fps:.1f} frames/s)", file=report)
    print("  top class per frame: " + ", ".join(f"{n} {c}" for n, c in run.top_classes), file=report)
    print(
        f"  flicker: {flick.mean_changed:.1%} of pixels change class between frames; {flick.off_majority} "
        f"frames' top class is not {run.class_names[flick.majority]!r}",
        file=report,
    )
    for name, where in (("video", args.out), ("masks", args.masks)):
        if where:
            print(f"  {name}: {where}", file=report)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from .workflows.quantize import quantize

    progress = not (args.json or args.quiet)
    result = quantize(
        args.model,
        args.recipe,
        calibration=args.calibration,
        count=args.count,
        out=args.out,
        progress=progress,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.describe())
        print(f"  written: {result.path}")
    return 0


def _model_report(args: argparse.Namespace) -> int:
    from .workflows.bench import parse_list
    from .workflows.model_report import model_report

    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()] if args.recipes else []
    report = model_report(
        recipes,
        models=args.model or None,
        calibration=args.calibration,
        count=args.count,
        threads=parse_list(args.threads, int),
        rounds=args.rounds,
        memory=not args.no_memory,
        progress=not args.quiet,
    )
    print(report.table())
    for path in (args.csv, args.html, args.markdown):
        if path:
            print(f"saved: {report.save(path)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="deeplab-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="list, describe or fetch the zoo's models")
    models.add_argument("action", choices=["list", "info", "fetch"])
    models.add_argument("names", nargs="*", metavar="NAME")
    models.set_defaults(func=_models)

    smp = sub.add_parser("samples", help="list the sample photos")
    smp.add_argument("action", choices=["list"])
    smp.set_defaults(func=_samples)

    seg = sub.add_parser("segment", help="segment images (default: the cat sample)")
    seg.add_argument("inputs", nargs="*", metavar="IMAGE_OR_DIR")
    seg.add_argument("--sample", action="append", default=[], metavar="NAME", help="a sample photo by name")
    seg.add_argument("--model", default="deeplabv3-starter", help="zoo model id or .tflite path")
    seg.add_argument("--labels", help="label file for a user model (one name per line)")
    seg.add_argument("--threads", type=int, help="interpreter threads (default: all cores)")
    seg.add_argument("--no-xnnpack", action="store_true", help="run without the XNNPACK delegate")
    seg.add_argument("--delegate", metavar="PATH", help="external delegate library, e.g. libedgetpu.so.1")
    seg.add_argument("--backend", default="auto", choices=["auto", "litert", "tflite-runtime"])
    seg.add_argument("--resize", choices=RESIZE_MODES, help="default: the mode measured best for the model")
    seg.add_argument("--out", metavar="DIR", help="write <name>_mask.png (palette PNG) here")
    seg.add_argument("--overlay", action="store_true", help="also write <name>_overlay.png")
    seg.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (0..1)")
    seg.add_argument("--json", action="store_true", help="print a JSON summary")
    seg.add_argument(
        "--workers", type=int, metavar="N", help="1: serial; N > 1: worker processes (default: threads in this process)"
    )
    seg.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler, e.g. tcp://127.0.0.1:8786")
    seg.add_argument("--resume", action="store_true", help="skip images whose outputs in --out are valid")
    seg.add_argument("--summary", action="store_true", help=f"also write {SUMMARY_NAME} (one JSON line per image)")
    seg.set_defaults(func=_segment)

    ev = sub.add_parser("eval", help="score a model on labelled images (mIoU, pixel accuracy)")
    ev.add_argument("--model", default="deeplabv3-starter", help="zoo model id or .tflite path")
    ev.add_argument("--labels", help="label file for a user model (one name per line)")
    ev.add_argument("--images", required=True, metavar="DIR", help="folder of images")
    ev.add_argument("--masks", required=True, metavar="DIR", help="class-id PNG masks named like the images")
    ev.add_argument(
        "--dataset-labels",
        choices=["pascal_voc", "cityscapes", "ade20k", "ade20k-32"],
        help="the masks' label set (default: ade20k-32 for the ADE20K models, mapping ids > 31 to 0; else pascal_voc)",
    )
    ev.add_argument("--ignore", type=int, default=255, help="mask value to ignore (default 255, VOC's void)")
    ev.add_argument("--tta", choices=["flip", "multiscale", "multiscale+flip"], help="test-time augmentation")
    ev.add_argument("--crf", action="store_true", help="refine with DeepLab v1/v2's fully connected CRF (slow)")
    ev.add_argument("--resize", choices=RESIZE_MODES, help="default: the mode measured best for the model")
    ev.add_argument("--threads", type=int, help="interpreter threads (default: all cores)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)

    bch = sub.add_parser("bench", help="time models like TFLite's benchmark_model, or the whole pipeline")
    bch.add_argument("--model", action="append", metavar="M", help="zoo id or .tflite path (repeatable)")
    bch.add_argument("--threads", metavar="LIST", help="thread counts, e.g. 1,2 (default: 1..cores)")
    bch.add_argument("--xnnpack", default="on", metavar="LIST", help="on, off or on,off (default: on)")
    bch.add_argument("--delegate", action="append", metavar="PATH", help="external delegate library (repeatable)")
    bch.add_argument("--backend", default="auto", metavar="LIST", help="auto, litert, tflite-runtime or installed")
    bch.add_argument("--runs", type=int, default=50, help="timed runs (default 50)")
    bch.add_argument("--warmup", type=int, default=1, help="warm-up runs (default 1)")
    bch.add_argument("--max-seconds", type=float, metavar="S", help="stop timing a configuration after S seconds")
    bch.add_argument("--input", default="random", help="random (default), a sample name or an image path")
    bch.add_argument("--pipeline", action="store_true", help="time decode..render per stage (default photo: cat)")
    out = bch.add_mutually_exclusive_group()
    out.add_argument("--json", metavar="FILE", help="also save the table as JSON (- prints it instead)")
    out.add_argument("--csv", metavar="FILE", help="also save the table as CSV (- prints it instead)")
    bch.add_argument("--quiet", action="store_true", help="no progress bar")
    bch.set_defaults(func=_bench)

    der = sub.add_parser(
        "derive", help="the same weights at another output stride or input size, or without image pooling"
    )
    der.add_argument("model", metavar="MODEL", help="zoo model id or .tflite path")
    der.add_argument("--output-stride", type=int, choices=(8, 16, 32), help="default: the model's own")
    der.add_argument("--input-size", type=int, metavar="PX", help="square input side, e.g. 321 or 513")
    der.add_argument("--no-image-pooling", action="store_true", help="drop DeepLab v3's image-level branch")
    der.add_argument("--out", required=True, metavar="FILE.tflite", help="where to write the derived model")
    der.set_defaults(func=_derive)

    qz = sub.add_parser("quantize", help="quantize a float model (litert-quantizer; the 'quantize' extra)")
    qz.add_argument("model", metavar="MODEL", help="zoo model id or .tflite path of a float model")
    qz.add_argument(
        "--recipe",
        default="int8",
        choices=RECIPES,
        help="int8 and int16x8 are static (calibrated); default int8",
    )
    qz.add_argument(
        "--calibration",
        default="samples",
        metavar="DIR|samples|voc",
        help="calibration photos: a folder, the sample photos (default) or the labelled VOC images",
    )
    qz.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"calibration photos to use (default {DEFAULT_COUNT})",
    )
    qz.add_argument("--out", metavar="FILE.tflite", help="write the quantized model here (default: the cache only)")
    qz.add_argument("--json", action="store_true", help="print the result as JSON")
    qz.add_argument("--quiet", action="store_true", help="no progress bar")
    qz.set_defaults(func=_quantize)

    rep = sub.add_parser(
        "model-report", help="every zoo model and quantized variant: size, ms at 1 and 2 threads, mIoU, peak RAM"
    )
    rep.add_argument("--model", action="append", metavar="ID", help="a zoo model (repeatable; default: all)")
    rep.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        metavar="LIST",
        help="quantization recipes for the float models ('' for none; default: all five)",
    )
    rep.add_argument("--calibration", default="samples", metavar="DIR|samples|voc", help="calibration photos")
    rep.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, metavar="N", help=f"calibration photos (default {DEFAULT_COUNT})"
    )
    rep.add_argument("--threads", default="1,2", metavar="LIST", help="thread counts (default 1,2)")
    rep.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds (default 10)")
    rep.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    rep.add_argument("--csv", metavar="FILE", help="also save the table as CSV")
    rep.add_argument("--html", metavar="FILE", help="also save the table as HTML")
    rep.add_argument("--markdown", metavar="FILE", help="also save the table as Markdown")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(func=_model_report)

    vid = sub.add_parser("video", help="segment every frame of a video: overlay video, palette-PNG masks, JSON lines")
    vid.add_argument("input", metavar="VIDEO", help="a video file, or a sample video name (cockatoo)")
    vid.add_argument("--model", default="deeplabv3-starter", help="zoo model id or .tflite path")
    vid.add_argument("--labels", help="label file for a user model (one name per line)")
    vid.add_argument("--threads", type=int, help="interpreter threads (default: all cores)")
    vid.add_argument("--out", metavar="OUT.mp4", help="write the segmented video (H.264, same size and fps, no audio)")
    vid.add_argument("--overlay", action="store_true", help="blend the mask over the frames (default: the mask alone)")
    vid.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (0..1)")
    vid.add_argument(
        "--smooth", type=float, default=0.0, metavar="W", help="EMA weight of the past, e.g. 0.6 (0 = off)"
    )
    vid.add_argument("--masks", metavar="DIR", help="write one palette-PNG mask per frame (frame_000000.png, ...)")
    vid.add_argument(
        "--json", action="store_true", help="print one JSON line per frame (index, time, classes, timings)"
    )
    vid.add_argument("--limit", type=int, metavar="N", help="stop after N frames")
    vid.add_argument("--quiet", action="store_true", help="no progress bar")
    vid.set_defaults(func=_video)
    return parser


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C does: outputs in progress are removed, finished ones stay."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand; library errors become one line on stderr and exit code 1.

    Ctrl-C and SIGTERM stop a run with one line and exit code 130; files being written are removed (every
    output is written atomically), and the files already finished stay for `--resume`.

    Args:
        argv: The arguments (default: `sys.argv[1:]`).
    """
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return args.func(args)
    except DeeplabWidgetsError as exc:
        print(f"deeplab-widgets: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deeplab-widgets: interrupted: files being written were removed, finished ones are kept", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
