"""Time from a display-only change (alpha, mode, class toggle) to the new encoded image, on a ~1 MP photo.

Part 1 compares encoders for the display picture (the overlay of `kite_and_cold`, 1352x900): time and size.
Part 2 times the kernel-side picture (`viz.render` + JPEG encode) per display change, as used for static
exports; the Workbench's viewer composites in the browser instead (benchmarks/viewer_latency.py).
Rounds are interleaved and medians reported, so load from other processes hits every case alike.

    DEEPLAB_WIDGETS_MIRROR=../shared/models:../shared/images python benchmarks/display_latency.py
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

from PIL import Image

from deeplab_widgets import Segmenter, load_sample
from deeplab_widgets.viz import overlay_image
from deeplab_widgets.viz.render import encode as encode_display
from deeplab_widgets.viz.render import render

ENCODERS: dict[str, dict] = {
    "JPEG q85": {"format": "JPEG", "quality": 85},
    "JPEG q75": {"format": "JPEG", "quality": 75},
    "WebP q80 (method 0)": {"format": "WEBP", "quality": 80, "method": 0},
    "PNG level 1": {"format": "PNG", "compress_level": 1},
    "PNG level 6 (default)": {"format": "PNG", "compress_level": 6},
    "BMP (no compression)": {"format": "BMP"},
}


def encode(picture: Image.Image, params: dict) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, **params)
    return buffer.getvalue()


Case = tuple[Callable[[int], object], Callable[[int], object]]  # (untimed set-up, timed action)


def measure(cases: dict[str, Case], rounds: int) -> dict[str, list[float]]:
    """Run each case once per round, interleaved; milliseconds per timed action."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(rounds + 1):
        for name, (setup, action) in cases.items():
            setup(i)
            start = time.perf_counter()
            action(i)
            if i:  # round 0 warms up
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


def nothing(_: int) -> None:
    """No set-up."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="kite_and_cold")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    photo = load_sample(args.sample)
    result = Segmenter("deeplabv3-starter").segment(photo, scores=True)
    print(f"{args.sample}: {photo.width}x{photo.height} = {photo.width * photo.height / 1e6:.2f} MP")

    picture = overlay_image(photo, result, 0.6)
    sizes = {name: len(encode(picture, params)) for name, params in ENCODERS.items()}
    encoders = {name: (nothing, lambda _, p=params: encode(picture, p)) for name, params in ENCODERS.items()}
    times = measure(encoders, args.rounds)
    print("\nencoding the overlay picture")
    print(f"{'format':24} {'median ms':>10} {'size KB':>9}")
    for name in ENCODERS:
        print(f"{name:24} {statistics.median(times[name]):10.1f} {sizes[name] / 1024:9.0f}")

    smallest = result.present_classes()[-1].id

    def show(**options) -> bytes:
        return encode_display(render(photo, result, **options))

    def set_mode(name: str) -> Callable[[int], None]:
        return lambda _: show(mode=name)

    cases: dict[str, Case] = {
        "alpha slider (overlay)": (set_mode("overlay"), lambda i: show(alpha=0.3 if i % 2 else 0.7)),
        "class toggle (overlay)": (set_mode("overlay"), lambda i: show(hidden={smallest} if i % 2 else ())),
    }
    for name in ("mask", "side by side", "boundaries", "confidence", "entropy"):
        cases[f"mode overlay -> {name}"] = (set_mode("overlay"), set_mode(name))
    times = measure(cases, args.rounds)
    print(f"\ndisplay-only change -> new encoded picture in the kernel (JPEG q85), median of {args.rounds}")
    print(f"{'change':28} {'median ms':>10} {'p90 ms':>8}")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:28} {statistics.median(values):10.1f} {p90:8.1f}")


if __name__ == "__main__":
    main()
