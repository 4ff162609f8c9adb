"""Peak memory of `deeplab-widgets segment` on one 50 MP JPEG: masks only, and with `--overlay`.

    python benchmarks/batch_memory.py [--megapixels 50]

The photo is the kite sample scaled up to the size asked for. Each configuration runs in a fresh process;
the figure is that process's peak resident set (`ru_maxrss`), in MB. The overlay needs the photo decoded at
full size (the mask alone lets the JPEG decode at reduced scale), so its bound is the decoded photo plus the
full-size class map above the masks-only run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from deeplab_widgets.assets.samples import sample_path

MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_mb(args: list[str]) -> float:
    """The peak resident set of a command run alone in a fresh process, in MB (Linux reports KiB)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *args], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        kite = Image.open(sample_path("kite_and_cold")).convert("RGB")
        scale = (args.megapixels * 1e6 / (kite.width * kite.height)) ** 0.5
        size = (round(kite.width * scale), round(kite.height * scale))
        kite.resize(size, Image.Resampling.BILINEAR).save(folder / "big.jpg", quality=90)
        decoded_mb = size[0] * size[1] * 3 / 2**20
        command = [sys.executable, "-m", "deeplab_widgets.cli", "segment", str(folder), "--out", str(Path(tmp) / "out")]
        masks = peak_mb(command)
        overlay = peak_mb([*command, "--overlay"])
    print(f"photo {size[0]}x{size[1]} ({args.megapixels:g} MP, {decoded_mb:.0f} MB decoded RGB)")
    print(f"peak RSS, masks only: {masks:.0f} MB")
    print(f"peak RSS, --overlay:  {overlay:.0f} MB (+{overlay - masks:.0f} MB)")


if __name__ == "__main__":
    main()
