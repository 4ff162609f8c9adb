"""Quantizing the starter model: the issue's targets, every recipe measured in one run, kernels and layer errors.

1. The target run: `deeplab-widgets quantize deeplabv3-starter --recipe int8 --calibration DIR --count 8`, DIR holding
   the first 8 labelled VOC photos. Checked: the file is under 1.3 MB; its class maps agree with the float model's
   on at least 97% of the pixels (median over the 7 other VOC photos and the 9 sample photos, none calibrated on);
   its bare `invoke()` is at most 0.6x the float model's, interleaved at the same thread count (and, for
   comparison, the same two models on LiteRT's built-in kernels, XNNPACK off).
2. The bound on this CPU: the model's four largest convolutions, its largest depthwise convolution and its first
   convolution, each cut out as a one-operator model in its float and its int8 version, timed interleaved. A layer's int8/float ratio
   is what its kernel gains from the number format here; the whole model cannot beat the layers it is made of.
3. The quantization report: float and the five recipes (same calibration), measured in one interleaved run.
4. Which kernels run each variant (XNNPACK partitions, operators left to LiteRT's built-in kernels).
5. The error each layer adds, on a held-out VOC photo; the figure goes to docs/images/quantization_layers.png.

    python benchmarks/quantization.py [--rounds 40] [--report-rounds 10] [--threads 1,2] [--targets-only]

Prints Markdown for benchmarks/RESULTS.md; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from deeplab_widgets import RuntimeOptions, Segmenter, labelled_pairs, list_samples, sample_path
from deeplab_widgets.analysis.layer_errors import layer_errors
from deeplab_widgets.cli import main as cli
from deeplab_widgets.tflite.graph import Layer, read_layers
from deeplab_widgets.workflows.bench import int8_dot_product, machine_description, parse_list
from deeplab_widgets.workflows.bench.kernels import kernel_plan
from deeplab_widgets.workflows.interleaved import invoke_task, operator_task, time_interleaved
from deeplab_widgets.workflows.quantization_report import quantization_report

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "images" / "quantization_layers.png"
SIZE_LIMIT, AGREEMENT_LIMIT, SPEED_LIMIT = 1.3e6, 0.97, 0.6


def cpu_times(models: dict[str, object], rounds: int) -> dict[str, float]:
    """Median CPU milliseconds (`time.thread_time`) of a 1-thread `invoke()` per model, interleaved."""
    tasks = {
        name: invoke_task(model, RuntimeOptions(num_threads=1), image=sample_path("cat"))
        for name, model in models.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            start = time.thread_time()
            task()
            samples[name].append((time.thread_time() - start) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def shape(layer: Layer) -> str:
    """A layer's output shape as 33x33x256."""
    return "x".join(str(d) for d in layer.output_shape[1:])


def layer_bound(float_model: Segmenter, int8_path: Path, threads: list[int], rounds: int) -> None:
    """Print the one-operator table: the largest convolutions and the first, float against int8, interleaved."""
    float_layers = read_layers(float_model.spec.content).layers
    int8_index = {layer.name: layer.index for layer in read_layers(int8_path.read_bytes()).layers}
    convolutions = sorted((x for x in float_layers if x.op == "CONV_2D"), key=lambda x: -x.macs)
    depthwise = max((x for x in float_layers if x.op == "DEPTHWISE_CONV_2D"), key=lambda x: x.macs)
    chosen = [*convolutions[:4], depthwise, float_layers[0]]
    total = sum(x.macs for x in float_layers)
    print("| layer | MMACs | threads | float ms | int8 ms | int8 / float | float GMAC/s | int8 GMAC/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        options = RuntimeOptions(num_threads=t)
        tasks = {}
        for layer in chosen:
            tasks[f"float {layer.index}"] = operator_task(float_model, layer.index, options)
            tasks[f"int8 {layer.index}"] = operator_task(int8_path, int8_index[layer.name], options)
        timing = time_interleaved(tasks, rounds=rounds, warmup=5)
        for layer in chosen:
            f, q = timing.stat(f"float {layer.index}").median_ms, timing.stat(f"int8 {layer.index}").median_ms
            kernel = "x".join(map(str, layer.kernel or ()))
            print(
                f"| {layer.index}: {layer.op} {kernel} -> {shape(layer)} `{layer.name}` | {layer.macs / 1e6:.1f} | "
                f"{t} | {f:.3f} | {q:.3f} | {q / f:.2f}x | {layer.macs / f / 1e6:.0f} | {layer.macs / q / 1e6:.0f} |"
            )
    share = sum(x.macs for x in convolutions[:4]) / total
    print(
        f"\nThe four largest convolutions hold {share:.0%} of the model's {total / 1e6:.0f} M multiply-accumulates. "
        f"{timing.load_line()}; {rounds} interleaved rounds of each one-operator model (zeros in).\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds of float vs int8 invoke()")
    parser.add_argument("--report-rounds", type=int, default=10, help="interleaved rounds of the variants' report")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--no-figure", action="store_true", help="do not write the layer-error figure")
    parser.add_argument("--targets-only", action="store_true", help="only the targets and the one-layer bound")
    args = parser.parse_args()
    threads = parse_list(args.threads, int)
    print(f"# {datetime.date.today()} on {machine_description()}, ai-edge-litert {version('ai-edge-litert')}, ")
    dots = int8_dot_product()
    print(f"# litert-quantizer {version('litert-quantizer')}; 8-bit dot-product instructions: ", end="")
    print(f"{'unknown' if dots is None else ', '.join(dots) or 'none'}\n")

    voc = [item.image_path for item in labelled_pairs().items]
    calibration, held_out = voc[:8], voc[8:] + [sample_path(s.name) for s in list_samples("photo")]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "calibration"
        folder.mkdir()
        for path in calibration:
            shutil.copy(path, folder / path.name)
        out = Path(tmp) / "q.tflite"
        argv = ["quantize", "deeplabv3-starter", "--recipe", "int8", "--calibration", str(folder), "--count", "8"]
        print("## Target run\n\n```\n$ deeplab-widgets " + " ".join(argv[:-4]) + " --calibration DIR --count 8")
        sys.stdout.flush()
        if cli([*argv, "--out", str(out), "--quiet"]) != 0:
            return 1
        print("```\n")
        size = out.stat().st_size
        quantized = Segmenter.from_file(out)
        reference = Segmenter("deeplabv3-starter")
        shares = [float((quantized.segment(p).labels == reference.segment(p).labels).mean()) for p in held_out]
        agreement = statistics.median(shares)
        tasks = {}
        for t in threads:
            options = RuntimeOptions(num_threads=t)
            tasks[f"float, {t} thread(s)"] = invoke_task("deeplabv3-starter", options, image=sample_path("cat"))
            tasks[f"int8, {t} thread(s)"] = invoke_task(out, options, image=sample_path("cat"))
            builtin = RuntimeOptions(num_threads=t, xnnpack=False)  # LiteRT's own kernels, for comparison
            tasks[f"float, {t} thread(s), built-in"] = invoke_task(
                "deeplabv3-starter", builtin, image=sample_path("cat")
            )
            tasks[f"int8, {t} thread(s), built-in"] = invoke_task(out, builtin, image=sample_path("cat"))
        timing = time_interleaved(tasks, rounds=args.rounds, warmup=3)
        print("| target | measured | limit | met |\n|---|---|---|---|")
        print(f"| file size | {size / 1e6:.2f} MB | < 1.3 MB | {'yes' if size < SIZE_LIMIT else 'NO'} |")
        met = agreement >= AGREEMENT_LIMIT
        print(
            f"| class-map agreement with float, median over {len(held_out)} held-out photos "
            f"(min {min(shares):.1%}) | {agreement:.1%} | >= 97% | {'yes' if met else 'NO'} |"
        )
        failures += [] if size < SIZE_LIMIT else ["size"]
        failures += [] if met else ["agreement"]
        for t in threads:
            ratio = timing.ratio(f"int8, {t} thread(s)", f"float, {t} thread(s)")
            ok = ratio <= SPEED_LIMIT
            failures += [] if ok else [f"speed at {t} threads"]
            f, q = timing.stat(f"float, {t} thread(s)"), timing.stat(f"int8, {t} thread(s)")
            print(
                f"| bare invoke(), {t} thread{'s' * (t > 1)}: int8 / float | {ratio:.2f}x ({q.median_ms:.1f} / "
                f"{f.median_ms:.1f} ms) | <= 0.6x | {'yes' if ok else 'NO'} |"
            )
        for t in threads:
            f, q = timing.stat(f"float, {t} thread(s), built-in"), timing.stat(f"int8, {t} thread(s), built-in")
            print(
                f"| (XNNPACK off) bare invoke(), {t} thread{'s' * (t > 1)}: int8 / float | {q.median_ms / f.median_ms:.2f}x "
                f"({q.median_ms:.1f} / {f.median_ms:.1f} ms) | | |"
            )
        print(f"\n{timing.load_line()}; {args.rounds} interleaved rounds.\n")
        # On a loaded machine wall time includes waiting for a core; the CPU time of a 1-thread invoke() (it runs
        # in the calling thread) does not, so its ratio is the steadier one.
        cpu = cpu_times({"float": "deeplabv3-starter", "int8": out}, args.rounds)
        print(
            f"CPU time of a 1-thread invoke(), interleaved: int8 {cpu['int8']:.1f} ms, float {cpu['float']:.1f} ms "
            f"({cpu['int8'] / cpu['float']:.2f}x).\n"
        )
        print("## The bound on this CPU: one layer alone, float against int8\n")
        layer_bound(reference, out, threads, rounds=5 * args.rounds)
        if args.targets_only:
            return finish(failures)

        report = quantization_report(
            "deeplabv3-starter",
            calibration=folder,
            count=8,
            threads=threads,
            rounds=args.report_rounds,
        )
        print("## Every recipe, measured in one run\n")
        print(report.table() + "\n")
        print("## Which kernels run (1 thread, XNNPACK on)\n")
        print("| variant | kernels |\n|---|---|")
        print(f"| float | {kernel_plan('deeplabv3-starter', RuntimeOptions(num_threads=1)).describe()} |")
        for made in report.quantized:
            print(f"| {made.recipe} | {kernel_plan(made.path, RuntimeOptions(num_threads=1)).describe()} |")
        photo = held_out[0]
        errors = [layer_errors("deeplabv3-starter", made.path, photo, name=made.recipe) for made in report.quantized]
        print(f"\n## Where each recipe loses the float signal (on {photo.name}, not calibrated on)\n")
        print("| recipe | logits SNR dB | the three layers that add the most noise |\n|---|---|---|")
        for e in errors:
            worst = "; ".join(f"{w.name} ({w.op}, +{w.added_noise:.2%})" for w in e.worst(3))
            print(f"| {e.model} | {e.output_snr_db:.1f} | {worst} |")
        if not args.no_figure:
            from deeplab_widgets.viz.quantization import plot_layer_errors

            by_recipe = {e.model: e for e in errors}
            shown = [by_recipe[r] for r in ("int8", "int16x8", "dynamic-int8") if r in by_recipe]
            plot_layer_errors(shown).savefig(FIGURE, dpi=90)
            print(f"\nfigure: {FIGURE.relative_to(ROOT)}")
    return finish(failures)


def finish(failures: list[str]) -> int:
    """Name the missed targets; the exit status: 1 when one is missed."""
    if failures:
        print(f"\nmissed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
