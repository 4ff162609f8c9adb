"""The `deeplab-widgets` command line: models, samples and segmentation."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import samples, zoo
from .errors import DeeplabWidgetsError
from .export import save_image, save_mask, summary
from .images import IMAGE_EXTENSIONS, load_image
from .preprocess import RESIZE_MODES
from .runtime import RuntimeOptions, cpu_count
from .segmenter import Segmenter

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


def _expand(inputs: Sequence[str]) -> Iterator[Path]:
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        else:
            yield path


def _segment(args: argparse.Namespace) -> int:
    options = RuntimeOptions(
        num_threads=args.threads or cpu_count(),
        xnnpack=not args.no_xnnpack,
        delegate=args.delegate,
        backend=args.backend,
    )
    segmenter = Segmenter(args.model, options, labels=args.labels, resize=args.resize)
    paths = list(_expand(args.inputs)) + [samples.sample_path(n) for n in args.sample]
    if not paths:
        paths = [samples.sample_path(DEFAULT_SAMPLE)]
    out = Path(args.out) if args.out else None
    failures, records = 0, []
    for path in paths:
        try:
            image = load_image(path)
            result = segmenter.segment(image)
        except DeeplabWidgetsError as exc:
            failures += 1
            print(f"deeplab-widgets: {path}: {exc}", file=sys.stderr)
            continue
        record = {"path": str(path), **summary(result)}
        if out:
            record["mask"] = str(save_mask(result, out / f"{path.stem}_mask.png"))
            if args.overlay:
                from PIL import Image

                from .viz import overlay

                blended = Image.fromarray(overlay(image, result, args.alpha))
                record["overlay"] = str(save_image(blended, out / f"{path.stem}_overlay.png"))
        records.append(record)
        if not args.json:
            classes = ", ".join(f"{c['name']} {c['fraction']:.1%}" for c in record["classes"])
            print(f"{path.name}: {classes}  ({result.timings.total_ms:.1f} ms)")
            for key in ("mask", "overlay"):
                if key in record:
                    print(f"  {key}: {record[key]}")
    if args.json:
        print(json.dumps(records, indent=2))
    return 1 if failures else 0


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
    seg.add_argument("--resize", default="stretch", choices=RESIZE_MODES)
    seg.add_argument("--out", metavar="DIR", help="write <name>_mask.png (palette PNG) here")
    seg.add_argument("--overlay", action="store_true", help="also write <name>_overlay.png")
    seg.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (0..1)")
    seg.add_argument("--json", action="store_true", help="print a JSON summary")
    seg.set_defaults(func=_segment)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand; library errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DeeplabWidgetsError as exc:
        print(f"deeplab-widgets: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
