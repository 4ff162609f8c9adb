"""Images per second of `segment_many` over the sample photos repeated to ~200 images: serial, processes, Dask.

Each configuration writes palette PNG masks to a fresh folder; the wall time includes starting worker
processes (a cost the user pays) but not starting the Dask cluster. Configurations run round-robin, `--repeats`
times, and the median is reported, so load from other processes on the machine spreads over all of them.

    python benchmarks/batch_throughput.py [--images 200] [--repeats 3] [--model deeplabv3-starter]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from deeplab_widgets import Segmenter, list_samples
from deeplab_widgets.core.runtime import RuntimeOptions, cpu_count
from deeplab_widgets.workflows.batch import segment_many


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="deeplabv3-starter")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    cores = cpu_count()
    root = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    folder = make_folder(root, args.images)
    segmenter = Segmenter(args.model, RuntimeOptions(num_threads=cores))
    configs: dict[str, dict] = {
        f"1 process, {cores} interpreter threads": dict(workers=1, threads=cores),
        "1 process, 1 interpreter thread": dict(workers=1, threads=1),
        f"{cores} processes x 1 interpreter thread": dict(workers=cores, threads=1),
    }
    cluster = client = None
    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            print("dask is not installed: skipping the Dask configuration (pip install 'deeplab-widgets[dask]')")
        else:
            t0 = time.perf_counter()
            cluster = LocalCluster(
                n_workers=cores, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            )
            client = Client(cluster)
            print(f"Dask LocalCluster started in {time.perf_counter() - t0:.1f} s (not counted below)")
            configs[f"Dask LocalCluster, {cores} workers x 1 thread"] = dict(client=client, threads=1)

    rates: dict[str, list[float]] = {name: [] for name in configs}
    cpu_ms: dict[str, list[float]] = {name: [] for name in configs}
    load_before = os.getloadavg()
    try:
        for rep in range(args.repeats):
            for name, kwargs in configs.items():
                out = root / f"out-{rep}-{len(rates[name])}-{abs(hash(name))}"
                cpu0 = cpu_seconds()
                report = segment_many(folder, segmenter, out, progress=False, **kwargs).run()
                cpu_ms[name].append((cpu_seconds() - cpu0) * 1e3 / args.images)
                assert report.count("ok") == args.images, report.describe()
                rates[name].append(report.images_per_s)
                print(
                    f"  run {rep + 1}: {name:45} {report.images_per_s:6.1f} images/s {cpu_ms[name][-1]:6.1f} CPU ms/image"
                )
                shutil.rmtree(out)
    finally:
        if client is not None:
            client.close()
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()

    print(f"\n{args.images} images ({args.model}, masks written), {cores} cores, median of {args.repeats}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (other processes share the CPU)\n")
    print("| configuration | images/s (median) | images/s, each run | CPU ms per image (median) |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {statistics.median(values):.1f} | {runs} | {statistics.median(cpu_ms[name]):.0f} |")


if __name__ == "__main__":
    main()
