"""Images per second of `segment_many` over the sample photos repeated to ~200 images, as a ratio to the bound.

The bound is one bare `invoke()` per image: `1000 / median invoke ms` of the unmodified model at all cores'
interpreter threads, measured right before every configuration's run (so machine load hits both alike).
Each configuration writes palette PNG masks to a fresh folder; the wall time includes starting workers (a cost
the user pays). Configurations run round-robin, `--repeats` times; medians are reported. Also printed: where
the time of one image goes (serial stages), resident memory over the default run (it must stay flat), and the
peak memory of segmenting a synthetic 50-megapixel JPEG (in a child process), against its decoded size.

    python benchmarks/batch_throughput.py [--images 200] [--repeats 3] [--model deeplabv3-starter] [--dask]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
from PIL import Image

from deeplab_widgets import Dask, Engine, Processes, Segmenter, Serial, Threads, list_samples
from deeplab_widgets.assets.samples import sample_path
from deeplab_widgets.core.images import load_image_at_least
from deeplab_widgets.core.imaging import mask_image
from deeplab_widgets.core.runtime import RuntimeOptions, cpu_count, make_interpreter
from deeplab_widgets.workflows.batch import segment_many
from deeplab_widgets.workflows.batch.jobs import MASK_PNG_LEVEL
from deeplab_widgets.workflows.bench import machine_description

TARGET = 0.75


def make_folder(root: Path, n_images: int) -> Path:
    """The sample photos copied round-robin into `root/photos/rep*/` until there are `n_images`."""
    photos = [s.path() for s in list_samples("photo")]
    folder = root / "photos"
    for k in range(n_images):
        src = photos[k % len(photos)]
        dst = folder / f"rep{k // len(photos):02d}" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return folder


def cpu_seconds() -> float:
    """CPU time of this process, its finished children (pool workers) and its live descendants (Dask workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def bare_invoke_ms(interpreter, runs: int = 30) -> tuple[float, float]:
    """Median wall milliseconds of one bare `invoke()`, and its mean CPU milliseconds (all threads)."""
    interpreter.invoke()
    times = []
    cpu0 = time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), (time.process_time() - cpu0) * 1e3 / runs


def stage_breakdown(segmenter: Segmenter, rounds: int = 5) -> dict[str, float]:
    """Median ms per image of each serial stage over the sample photos (from their files)."""
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "fit+feed", "invoke", "restore", "PNG encode")}
    photos = [s.path() for s in list_samples("photo")]
    for _ in range(rounds):
        for path in photos:
            t = time.perf_counter()
            load_image_at_least(path, segmenter.decode_size)
            stages["decode"].append((time.perf_counter() - t) * 1e3)
            result = segmenter.segment(path)
            stages["fit+feed"].append(result.timings.preprocess_ms)
            stages["invoke"].append(result.timings.invoke_ms)
            stages["restore"].append(result.timings.postprocess_ms)
            t = time.perf_counter()
            mask_image(result.labels, result.colormap).save(io.BytesIO(), format="PNG", compress_level=MASK_PNG_LEVEL)
            stages["PNG encode"].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in stages.items()}


def default_run_memory(folder: Path, out: Path, segmenter: Segmenter) -> list[tuple[int, float]]:
    """Resident MB of this process after 1, 20, 50, 100, 150 and all images of a default run."""
    marks = {1, 20, 50, 100, 150}
    proc = psutil.Process()
    rss = []
    run = segment_many(folder, segmenter, out, progress=False)
    for k, _ in enumerate(run, 1):
        if k in marks or k == len(run):
            rss.append((k, proc.memory_info().rss / 2**20))
    return rss


BIG_JPEG_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from deeplab_widgets import Segmenter, RuntimeOptions
    from deeplab_widgets.workflows.batch import segment_many

    def high_water_mark():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    seg = Segmenter(sys.argv[2], RuntimeOptions())
    segment_many([sys.argv[3]], seg, sys.argv[4], progress=False).run()  # warm: interpreter built, a mask written
    before = psutil.Process().memory_info().rss
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current resident size (Linux)
    report = segment_many([sys.argv[1]], seg, sys.argv[4], engine=Serial(), progress=False).run()
    print(json.dumps({"before": before, "peak": high_water_mark(), "size": report.records[0].size._asdict()}))
    """
)


def big_jpeg_memory(root: Path, model: str, megapixels: int = 50) -> dict:
    """Peak resident memory above the warm baseline while `segment_many` segments a synthetic JPEG of
    `megapixels` MP and writes its mask (the child process resets its peak before that image)."""
    w = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    h = int(megapixels * 1e6 / w) + 1
    path = root / f"synthetic_{megapixels}mp.jpg"
    kite = sample_path("kite_and_cold")
    with Image.open(kite) as im:
        im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR).save(path, quality=90)
    small = sample_path("cat")
    argv = [sys.executable, "-c", BIG_JPEG_CHILD, str(path), model, str(small), str(root / "out-big")]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600)
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record.update(width=w, height=h, decoded=w * h * 3)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="deeplabv3-starter")
    parser.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    args = parser.parse_args()

    cores = cpu_count()
    root = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    folder = make_folder(root, args.images)
    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=cores))
    interpreter = make_interpreter(segmenter.spec.content, segmenter.options)
    configs: dict[str, Engine | None] = {
        f"default (in-process: {cores} threads, an interpreter each x 1 thread)": None,
        f"in-process: {cores} threads, 1 shared interpreter x {cores} threads": Threads(
            shared=True, interpreter_threads=cores
        ),
        f"serial, 1 interpreter x {cores} threads": Serial(),  # the segmenter runs `cores` threads
        f"{cores} processes x 1 interpreter thread": Processes(cores, interpreter_threads=1),
    }
    cluster = client = None
    if args.dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=cores, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
        configs[f"Dask LocalCluster, {cores} workers x 1 thread"] = Dask(client, interpreter_threads=1)

    rates: dict[str, list[float]] = {name: [] for name in configs}
    ratios: dict[str, list[float]] = {name: [] for name in configs}
    cpu_ms: dict[str, list[float]] = {name: [] for name in configs}
    bounds: list[float] = []
    invoke_cpu: list[float] = []
    load_before = os.getloadavg()
    try:
        for rep in range(args.repeats):
            for name, engine in configs.items():
                wall_ms, cpu_ms_invoke = bare_invoke_ms(interpreter)
                bound = 1000 / wall_ms
                bounds.append(bound)
                invoke_cpu.append(cpu_ms_invoke)
                out = root / f"out-{rep}-{len(rates[name])}-{abs(hash(name))}"
                cpu0 = cpu_seconds()
                report = segment_many(folder, segmenter, out, engine=engine, progress=False).run()
                cpu_ms[name].append((cpu_seconds() - cpu0) * 1e3 / args.images)
                assert report.count("ok") == args.images, report.describe()
                rates[name].append(report.images_per_s)
                ratios[name].append(report.images_per_s / bound)
                print(
                    f"  run {rep + 1}: {name:66} {report.images_per_s:6.1f} images/s = {ratios[name][-1]:.2f} of "
                    f"the bound ({bound:.0f}/s); {cpu_ms[name][-1]:5.1f} CPU ms/image; load {os.getloadavg()[0]:.1f}"
                )
                shutil.rmtree(out)
        stages = stage_breakdown(segmenter)
        memory = None if args.no_memory else default_run_memory(folder, root / "out-memory", segmenter)
        big = None if args.no_memory else big_jpeg_memory(root, args.model)
    finally:
        if client is not None:
            client.close()
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()

    import ai_edge_litert

    print(f"\n{args.images} images ({args.model}, masks written), median of {args.repeats} runs")
    print(f"machine: {machine_description()}; LiteRT {getattr(ai_edge_litert, '__version__', '?')}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    bound = statistics.median(bounds)
    model_cpu = statistics.median(invoke_cpu)
    print(f"bound: one bare invoke() per image at {cores} threads, median {bound:.0f} images/s ", end="")
    print(f"({model_cpu:.1f} CPU ms per invoke)\n")
    print(
        "| configuration | images/s (median) | ratio to the bound measured before each run (median; each run) "
        "| ratio to the median bound | CPU ms per image | model's share of the CPU |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in rates.items():
        each = ", ".join(f"{v:.2f}" for v in ratios[name])
        rate, cpu = statistics.median(values), statistics.median(cpu_ms[name])
        print(
            f"| {name} | {rate:.1f} | {statistics.median(ratios[name]):.2f} ({each}) | {rate / bound:.2f} "
            f"| {cpu:.1f} | {model_cpu / cpu:.2f} |"
        )
    print(f"(target: ratio to the bound >= {TARGET})")
    print("\nserial stages of one image, from its file (median ms):")
    print(" | ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    if memory is not None:
        print("\nresident memory of the default run: " + ", ".join(f"{mb:.0f} MB after {k}" for k, mb in memory))
    if big is not None:
        extra = (big["peak"] - big["before"]) / 2**20
        print(
            f"synthetic {big['width']}x{big['height']} JPEG ({big['decoded'] / 2**20:.0f} MB decoded): peak "
            f"{extra:.0f} MB above the warm baseline = {extra * 2**20 / big['decoded']:.2f}x its decoded size "
            f"(target <= ~3x); class map {big['size'][0]}x{big['size'][1]}"
        )


if __name__ == "__main__":
    main()
