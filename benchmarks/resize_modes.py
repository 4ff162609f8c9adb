"""Which default resize mode ("stretch" or "pad"), and is bilinear logit upsampling worth it? Measured on labelled VOC.

Scores every PASCAL zoo model with both resize modes on the labelled VOC pairs (`labelled_pairs()`: 15 VOC val images; 14 of them
are 513x513 squares, where the two modes are identical, so the script also scores centre crops of every
pair to 4:3 landscape and 3:4 portrait, image and mask cropped alike), then the starter model with
argmax-then-nearest upsampling vs bilinear upsampling of its probabilities before the argmax, and with
flip TTA (accuracy gain and time cost).

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images:../shared/eval .venv/bin/python benchmarks/resize_modes.py [--json FILE]
    ... benchmarks/resize_modes.py --ade20k   # the two v3+ ADE20K models on the 3 ADE20K pairs instead

15 images are a sanity check, not a benchmark: differences of a point or two of mIoU are within noise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image

from deeplab_widgets import Segmenter, labelled_pairs
from deeplab_widgets.core.runtime import RuntimeOptions, cpu_count
from deeplab_widgets.workflows.datasets import LabelledDataset, voc_folder
from deeplab_widgets.workflows.evaluate import Evaluation, evaluate

PASCAL_MODELS = ("deeplabv3-starter", "deeplabv3-mnv2-dm05-voc", "deeplabv3-mnv2-voc")
ADE20K_MODELS = ("deeplabv3plus-mnv2-ade20k", "deeplabv3plus-mnv2-ade20k-int8")


def cropped(dataset: LabelledDataset, aspect: float, folder: Path) -> LabelledDataset:
    """Centre crops of every pair to width/height = `aspect` (image and mask alike), written to `folder`."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for item in dataset:
        image, _ = dataset.load(item)
        w, h = image.size
        cw, ch = (w, round(w / aspect)) if w / h < aspect else (round(h * aspect), h)
        cw, ch = min(cw, w), min(ch, h)
        box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
        image.crop(box).save(folder / "images" / f"{item.name}.png")
        with Image.open(item.mask_path) as mask:
            mask.crop(box).save(folder / "masks" / f"{item.name}.png")
    return voc_folder(folder / "images", folder / "masks", name=f"{dataset.name} {folder.name}")


def row(e: Evaluation) -> dict:
    return {
        "model": e.model,
        "dataset": e.dataset,
        "resize": e.resize,
        "tta": e.tta,
        "upsample": e.upsample,
        "miou": round(e.miou, 4),
        "miou_all": round(e.overall.miou_all, 4),
        "pixel_accuracy": round(e.pixel_accuracy, 4),
        "median_ms": round(e.median_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also save the rows as JSON")
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--ade20k", action="store_true", help="score the ADE20K models on the 3 ADE20K pairs")
    args = parser.parse_args()
    options = RuntimeOptions(num_threads=args.threads)
    if args.ade20k:
        ade20k(options)
        return
    voc = labelled_pairs("pascal_voc")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        datasets = [
            voc,
            cropped(voc, 4 / 3, Path(tmp) / "landscape 4:3"),
            cropped(voc, 3 / 4, Path(tmp) / "portrait 3:4"),
        ]
        print(f"## resize mode ({options.describe()})\n")
        print("| model | dataset | stretch mIoU | pad mIoU | stretch pixel acc. | pad pixel acc. |")
        print("|---|---|---|---|---|---|")
        for name in PASCAL_MODELS:
            base = Segmenter(name, options)
            for ds in datasets:
                st, pd = (evaluate(base.with_options(resize=m), ds, progress=False) for m in ("stretch", "pad"))
                rows += [row(st), row(pd)]
                print(
                    f"| {name} | {ds.name} | {st.miou:.4f} | {pd.miou:.4f} "
                    f"| {st.pixel_accuracy:.4f} | {pd.pixel_accuracy:.4f} |"
                )
        starter = Segmenter("deeplabv3-starter", options)
        print("\n## starter model: upsampling and flip TTA\n")
        print("| dataset | setting | mIoU | mIoU (all) | pixel acc. | median ms/image |")
        print("|---|---|---|---|---|---|")
        for ds in datasets:
            for tta, upsample in ((None, "nearest"), (None, "bilinear"), ("flip", "nearest"), ("flip", "bilinear")):
                e = evaluate(starter, ds, tta=tta, upsample=upsample, progress=False)
                rows.append(row(e))
                setting = f"{'flip TTA, ' if tta else ''}{'argmax, nearest up' if upsample == 'nearest' else 'bilinear up, argmax'}"
                print(
                    f"| {ds.name} | {setting} | {e.miou:.4f} | {e.overall.miou_all:.4f} "
                    f"| {e.pixel_accuracy:.4f} | {e.median_ms:.1f} |"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
        print(f"\nsaved: {args.json}")


def ade20k(options: RuntimeOptions) -> None:
    """Stretch vs pad for the v3+ ADE20K models (3 images, annotation ids above 31 mapped to 0)."""
    ds = labelled_pairs("ade20k-32")
    print(f"## resize mode, ADE20K ({len(ds)} images, {ds.mapping}; {options.describe()})\n")
    print("| model | stretch mIoU | pad mIoU | stretch pixel acc. | pad pixel acc. |")
    print("|---|---|---|---|---|")
    for name in ADE20K_MODELS:
        base = Segmenter(name, options)
        st, pd = (evaluate(base.with_options(resize=m), ds, progress=False) for m in ("stretch", "pad"))
        print(f"| {name} | {st.miou:.4f} | {pd.miou:.4f} | {st.pixel_accuracy:.4f} | {pd.pixel_accuracy:.4f} |")


if __name__ == "__main__":
    main()
