"""The same weights at output stride 8, 16 and 32 and at several input sizes; image pooling on and off; the CRF.

DeepLab v3's central experiment, on the real zoo weights: every variant is derived from one model file
(`deeplab_widgets.derive`), scored on the labelled VOC pairs (mIoU with a bootstrap interval over images,
pixel accuracy, accuracy 0-1, 2-3 and 4-8 px from a ground-truth boundary) and timed with `invoke()` in one
interleaved run (median and 5-95% range, load average around it). Then the fully connected CRF with and
without, for the starter and the dm1.0 model on VOC and for the v3+ model on ADE20K, next to what the v3+
decoder's stride-4 logits buy over the same logits kept at stride 16. Prints Markdown tables.

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images:../shared/eval python benchmarks/output_stride_study.py [--rounds N]
    ... benchmarks/output_stride_study.py --decoder-only   # only the v3+ decoder's gain (no timing, deterministic)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from importlib.metadata import version

import numpy as np
from PIL import Image

from deeplab_widgets import Probe, RuntimeOptions, Segmenter, derive, labelled_pairs
from deeplab_widgets.analysis.concepts import subsample_aligned, upsample_bilinear
from deeplab_widgets.analysis.cost import compute_cost
from deeplab_widgets.core.runtime import cpu_count
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.interleaved import invoke_task, time_interleaved
from deeplab_widgets.workflows.metrics import ConfusionMatrix
from deeplab_widgets.workflows.stride import oracle_bound
from deeplab_widgets.workflows.variants import (
    Variant,
    band_masks,
    bootstrap_difference,
    markdown_table,
    miou_of,
    score_variants,
)

STARTER = "deeplabv3-starter"
DM10 = "deeplabv3-mnv2-voc"
V3PLUS = "deeplabv3plus-mnv2-ade20k-int8"
#: (model, output stride, input size, image pooling) of the same-weights study.
STUDY = (
    *((STARTER, s, size, True) for size in (257, 321, 513) for s in (8, 16, 32)),
    (STARTER, 8, 257, False),
    (STARTER, 16, 257, False),
    *((DM10, s, 513, True) for s in (8, 16, 32)),
    (DM10, 16, 513, False),
)


def short(model: str) -> str:
    return {STARTER: "starter", DM10: "dm1.0"}.get(model, model)


def same_weights(voc, rounds: int, options: RuntimeOptions) -> None:
    derived = {
        f"{short(m)} OS {s} {size}px{'' if pool else ' no pooling'}": derive(
            m, output_stride=s, input_size=size, image_pooling=pool
        )
        for m, s, size, pool in STUDY
    }
    t0 = time.perf_counter()
    scores = score_variants({name: d.segmenter(options) for name, d in derived.items()}, voc)
    print(f"scored {len(derived)} variants on {len(voc)} VOC images in {time.perf_counter() - t0:.0f} s\n")
    macs = {name: compute_cost(d.content).total_macs for name, d in derived.items()}
    timing = time_interleaved(
        {name: invoke_task(d.load(options), options) for name, d in derived.items()}, rounds=rounds
    )
    ms = {
        name: f"{timing.stat(name).median_ms:.1f} ({timing.stat(name).p5_ms:.0f}-{timing.stat(name).p95_ms:.0f})"
        for name in derived
    }
    print(
        markdown_table(
            scores,
            {"GMACs": {n: f"{m / 1e9:.2f}" for n, m in macs.items()}, "invoke ms (5-95%)": ms},
        )
    )
    print(f"\n{timing.load_line()}; {timing.rounds} interleaved rounds\n")
    by_name = {s.name: s for s in scores}
    print("| comparison (same images) | mIoU difference | 95% interval |\n|---|---:|---:|")
    pairs = [(f"starter OS {s} {size}px", f"starter OS 8 {size}px") for size in (257, 321, 513) for s in (16, 32)] + [
        ("starter OS 8 257px no pooling", "starter OS 8 257px"),
        ("starter OS 16 257px no pooling", "starter OS 16 257px"),
        ("dm1.0 OS 8 513px", "dm1.0 OS 16 513px"),
        ("dm1.0 OS 32 513px", "dm1.0 OS 16 513px"),
        ("dm1.0 OS 16 513px no pooling", "dm1.0 OS 16 513px"),
    ]
    for a, b in pairs:
        diff, lo, hi = bootstrap_difference(by_name[a], by_name[b])
        print(f"| {a} - {b} | {diff:+.3f} | {lo:+.3f} to {hi:+.3f} |")
    print()


def oracles(voc) -> None:
    cell = {b.output_stride: b for b in oracle_bound(voc)}
    bilinear = {b.output_stride: b for b in oracle_bound(voc, upsample="bilinear")}
    print("| output stride | cell-constant oracle mIoU | bilinear oracle mIoU |\n|---:|---:|---:|")
    for s in (8, 16, 32):
        print(f"| {s} | {cell[s].miou:.3f} | {bilinear[s].miou:.3f} |")
    print()


def crf_on_voc(voc, options: RuntimeOptions) -> None:
    variants: dict[str, Variant] = {}
    for model in (STARTER, DM10):
        seg = Segmenter(model, options)
        variants[short(model)] = Variant(seg)
        variants[f"{short(model)} + CRF"] = Variant(seg, refine="crf")
    scores = score_variants(variants, voc)
    ms = {s.name: f"{s.median_ms:.0f}" for s in scores}
    print(markdown_table(scores, {"ms per image (segment + CRF)": ms}))
    print("\n| comparison (same images) | mIoU difference | 95% interval |\n|---|---:|---:|")
    by_name = {s.name: s for s in scores}
    for model in ("starter", "dm1.0"):
        diff, lo, hi = bootstrap_difference(by_name[f"{model} + CRF"], by_name[model])
        print(f"| {model} + CRF - {model} | {diff:+.3f} | {lo:+.3f} to {hi:+.3f} |")
    print()


def crf_on_ade(ade, options: RuntimeOptions) -> None:
    seg = Segmenter(V3PLUS, options)
    scores = score_variants(
        {"v3+ (decoder, stride-4 logits)": Variant(seg), "v3+ + CRF": Variant(seg, refine="crf")}, ade
    )
    print(markdown_table(scores, {"ms per image": {s.name: f"{s.median_ms:.0f}" for s in scores}}))
    print()


def decoder_gain(ade, options: RuntimeOptions) -> None:
    """The decoder's gain: its stride-4 logits against the same logits kept on the stride-16 grid (the 32x32
    cells nearest the encoder's grid points, aligned corners as the upsampling), both bilinearly upsampled."""
    probe = Probe(V3PLUS, options)
    n = ade.num_classes
    rows = {}
    for label, stride in (("decoder logits at stride 4", 4), ("same logits at stride 16 (aligned cells)", 16)):
        confusions, hits = [], np.zeros((3, 2), np.int64)
        for item in ade.items:
            photo, truth = ade.load(item)
            logits = probe.run(photo).coarse_logits()
            if stride == 16:
                logits = subsample_aligned(logits, (32, 32))
            pred = upsample_bilinear(logits, (512, 512)).argmax(-1).astype(np.uint8)
            pred = np.asarray(Image.fromarray(pred).resize(photo.size, Image.Resampling.NEAREST))
            confusions.append(ConfusionMatrix(n, ade.ignore_index).update(truth, pred))
            valid = truth != ade.ignore_index if ade.ignore_index is not None else np.ones(truth.shape, bool)
            for k, mask in enumerate(band_masks(truth)):
                mask &= valid
                hits[k] += (int((pred == truth)[mask].sum()), int(mask.sum()))
        total = np.sum(confusions, axis=0)
        rows[label] = (miou_of(total), np.trace(total) / total.sum(), [h / c for h, c in hits])
    print("| v3+ logits (Probe, bilinear to 512 px) | mIoU | pixel acc. | acc. 0-1 px | acc. 2-3 px | acc. 4-8 px |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (miou, acc, bands) in rows.items():
        print(f"| {label} | {miou:.3f} | {acc:.3f} | " + " | ".join(f"{b:.3f}" for b in bands) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved invoke() rounds (default 10)")
    parser.add_argument("--skip-crf", action="store_true", help="only the same-weights study")
    parser.add_argument("--decoder-only", action="store_true", help="only the v3+ decoder's gain on ADE20K")
    args = parser.parse_args()
    print(f"{machine_description()}, {platform.python_version()}, ai-edge-litert {version('ai-edge-litert')}")
    print(f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f} at the start\n")
    options = RuntimeOptions(num_threads=cpu_count())
    if args.decoder_only:
        decoder_gain(labelled_pairs("ade20k-32"), options)
        return
    voc = labelled_pairs("pascal_voc")
    oracles(voc)
    same_weights(voc, args.rounds, options)
    if not args.skip_crf:
        crf_on_voc(voc, options)
        crf_on_ade(labelled_pairs("ade20k-32"), options)
        decoder_gain(labelled_pairs("ade20k-32"), options)


if __name__ == "__main__":
    main()
