"""The lessons' exercises (notebooks 02, 03, 05, 06) tell a right answer from a wrong one on the real models and data.

Each exercise gets a reference solution, written here as a learner would write it with the package's public API
(never the package's own expected value), and a typical wrong answer; the check must say *right* to the first
and *not yet* to the second. Each notebook's check cells must name exactly its registered exercises.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import (
    RuntimeOptions,
    Segmenter,
    compute_cost,
    load_sample,
    sample_path,
    segment_many,
    segment_video,
)
from deeplab_widgets.exercises import check, exercises
from deeplab_widgets.workflows.bench.kernels import kernel_plan
from deeplab_widgets.workflows.interleaved import invoke_task, time_interleaved

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {"02": "02_inference.ipynb", "03": "03_timing.ipynb", "05": "05_batch.ipynb", "06": "06_video.ipynb"}


# Notebook 02 -----------------------------------------------------------------------------------------------------


def pad_content(width: int, height: int, size: int) -> tuple[int, int]:
    scale = size / max(width, height)
    return round(width * scale), round(height * scale)


def pad_content_landscape_only(width: int, height: int, size: int) -> tuple[int, int]:
    return size, round(height * size / width)  # right for landscape photos, wrong for the portrait


def pets_unsure_background(shifted: float = 0.0) -> float:
    scores = Segmenter("deeplabv3-starter").segment(load_sample("pets"), scores=True).scores
    background = scores.argmax(axis=-1) == 0
    return float((scores.max(axis=-1)[background] < 0.9).mean()) + shifted


def greyscale_classes() -> set[str]:
    result = Segmenter("deeplabv3-starter").segment(load_sample("pets").convert("L"))
    return {c.name for c in result.present_classes()}


def entropy_map(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, 1e-12, 1.0)
    return -(scores * np.log(p)).sum(axis=-1) / np.log(scores.shape[-1])


# Notebook 03 -----------------------------------------------------------------------------------------------------


def one_change_pairs(settings: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a, b)
        for a, b in itertools.combinations(settings, 2)
        if sum(settings[a][k] != settings[b][k] for k in settings[a]) == 1
    ]


def faster_scheme() -> str:
    models = {"uint8": "deeplabv3plus-mnv2-ade20k", "int8": "deeplabv3plus-mnv2-ade20k-int8"}
    timing = time_interleaved({q: invoke_task(m, RuntimeOptions(num_threads=1)) for q, m in models.items()}, rounds=5)
    return "int8" if timing.ratio("uint8", "int8") > 1 else "uint8"


def conv_macs(layer: Any) -> int:
    _, h, w, c = layer.output_shape
    kh, kw = layer.kernel
    return h * w * c * kh * kw * (layer.input_shapes[0][-1] if layer.op == "CONV_2D" else 1)


def cost_ratio(what: str) -> float:
    dm10, dm05 = compute_cost("deeplabv3-mnv2-voc"), compute_cost("deeplabv3-mnv2-dm05-voc")
    return getattr(dm10, what) / getattr(dm05, what)


def pixel_ratio() -> float:
    (kw, kh), (cw, ch) = load_sample("kite_and_cold").size, load_sample("cat").size
    return kw * kh / (cw * ch)


# Notebook 05 -----------------------------------------------------------------------------------------------------


def photos_folder(root: Path, *, notes: bool = False) -> Path:
    """The notebook's folder: four sample photos, the cat again in a subfolder, a truncated JPEG (and notes.txt)."""
    photos = root / "photos"
    (photos / "more").mkdir(parents=True)
    for name in ("cat", "pets", "bird", "grace_hopper"):
        shutil.copyfile(sample_path(name), photos / sample_path(name).name)
    shutil.copyfile(sample_path("cat"), photos / "more" / "cat.bmp")
    (photos / "broken.jpg").write_bytes(sample_path("pets").read_bytes()[:3000])
    if notes:
        (photos / "notes.txt").write_text("not a photo\n")
    return photos


def records_with_notes(tmp: Path) -> int:
    return len(
        segment_many(photos_folder(tmp, notes=True), "deeplabv3-starter", tmp / "out", progress=False).run().records
    )


def mask_shares(path: Path) -> dict[int, float]:
    labels = np.asarray(Image.open(path))
    ids, counts = np.unique(labels, return_counts=True)
    return {int(i): n / labels.size for i, n in zip(ids, counts, strict=True)}


def mask_name(photo: Path, photos_root: Path) -> str:
    relative = Path(photo).relative_to(photos_root)
    return relative.with_name(f"{relative.stem}_mask.png").as_posix()


def top_classes(summary: Path) -> dict[str, str]:
    tops = {}
    for line in map(json.loads, Path(summary).read_text().splitlines()):
        if line["status"] == "ok":
            others = [c for c in line["classes"] if c["name"] != "background"]
            tops[Path(line["path"]).name] = max(others, key=lambda c: c["fraction"])["name"]
    return tops


def segmented_on_resume(tmp: Path) -> int:
    photos, out = photos_folder(tmp), tmp / "out"
    segment_many(photos, "deeplabv3-starter", out, overlay=True, progress=False).run()
    (out / "cat_mask.png").unlink()
    return segment_many(photos, "deeplabv3-starter", out, overlay=True, resume=True, progress=False).run().count("ok")


# Notebook 06 -----------------------------------------------------------------------------------------------------


def top_class(labels: np.ndarray) -> int:
    counts = np.bincount(labels.ravel(), minlength=256)
    counts[0] = 0
    return int(counts.argmax()) if counts.any() else 0


def switch_lag(w: float) -> int:
    return math.floor(math.log(0.5) / math.log(w))  # the first k with w ** (k + 1) < 1/2


def last_frame_of_the_dog(weight: float) -> int:
    dog = Segmenter("deeplabv3-starter").class_names.index("dog")
    frames = segment_video("cockatoo", "deeplabv3-starter", smooth=weight, limit=30, progress=False)
    return next(i for i, f in enumerate(frames) if top_class(f.labels) != dog) - 1


#: Exercise -> (the right answer, a wrong one), each made when the test runs (in a temporary folder of its own).
ANSWERS: dict[str, tuple[Callable[[Path], Any], Callable[[Path], Any]]] = {
    "02.pad-layout": (lambda _: pad_content, lambda _: pad_content_landscape_only),
    "02.normalise": (
        lambda _: lambda pixels: (pixels.astype(np.float32) - 127.5) / 127.5,
        lambda _: lambda pixels: pixels.astype(np.float32) / 255.0,
    ),
    "02.entropy": (lambda _: entropy_map, lambda _: lambda scores: 1.0 - scores.max(axis=-1)),
    "02.unsure-background": (lambda _: pets_unsure_background(), lambda _: pets_unsure_background(shifted=0.05)),
    "02.greyscale": (lambda _: greyscale_classes(), lambda _: greyscale_classes() | {"cat"}),
    "03.one-change": (
        lambda _: one_change_pairs,
        lambda _: lambda settings: list(itertools.combinations(settings, 2)),  # every pair, two changes too
    ),
    "03.faster-scheme": (lambda _: faster_scheme(), lambda _: {"int8": "uint8", "uint8": "int8"}[faster_scheme()]),
    "03.builtin-ops": (
        lambda _: sum(kernel_plan("deeplabv3plus-mnv2-ade20k", RuntimeOptions()).builtin.values()),
        lambda _: sum(kernel_plan("deeplabv3plus-mnv2-ade20k", RuntimeOptions()).delegated.values()),  # XNNPACK's
    ),
    "03.width-params": (lambda _: cost_ratio("total_params"), lambda _: 4.0),  # a quarter, as for 1x1 MACs
    "03.pixel-ratio": (lambda _: pixel_ratio(), lambda _: pixel_ratio() ** 0.5),  # the ratio of the sides
    "03.conv-macs": (
        lambda _: conv_macs,
        lambda _: lambda layer: conv_macs(layer) * layer.input_shapes[0][-1],  # depthwise counted as a full conv
    ),
    "05.not-an-image": (records_with_notes, lambda tmp: records_with_notes(tmp) + 1),  # notes.txt a record too
    "05.mask-shares": (
        lambda _: mask_shares,
        lambda _: lambda path: {i: 1 / len(s) for s in [mask_shares(path)] for i in s},  # an equal share each
    ),
    "05.mask-name": (lambda _: mask_name, lambda _: lambda photo, root: f"{Path(photo).stem}_mask.png"),
    "05.top-classes": (
        lambda _: top_classes,
        lambda _: lambda summary: {name: "background" for name in top_classes(summary)},
    ),
    "05.resume": (segmented_on_resume, lambda _: 5),  # all five again
    "06.changed-share": (
        lambda _: lambda a, b: float(np.mean(a != b)),
        lambda _: lambda a, b: float(np.count_nonzero(a != b)),  # a count, not a share
    ),
    "06.top-class": (lambda _: top_class, lambda _: lambda labels: int(np.bincount(labels.ravel()).argmax())),
    "06.switch-lag": (lambda _: switch_lag, lambda _: lambda w: round(1 / (1 - w))),  # the time constant
    "06.measured-lag": (
        lambda _: last_frame_of_the_dog(0.9) - last_frame_of_the_dog(0.0),
        lambda _: switch_lag(0.9),  # the rule for certain classes, not the clip
    ),
}


@pytest.mark.slow  # every exercise computes its answer on the real models: about a minute and a half
@pytest.mark.parametrize("name", list(ANSWERS))
def test_an_exercise_says_right_to_the_reference_solution_and_not_yet_to_a_wrong_answer(name, tmp_path, capsys) -> None:
    right, wrong = ANSWERS[name]
    assert check(name, right(tmp_path / "right"))
    assert not check(name, wrong(tmp_path / "wrong"))
    assert not check(name, None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{name}: right"
    assert lines[1].startswith(f"{name}: not yet - ")
    assert lines[2] == f"{name}: not answered yet"


@pytest.mark.parametrize("number", list(LESSONS))
def test_each_lesson_checks_its_own_exercises_at_least_three_written_in_code(number: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / LESSONS[number], as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    checked = [m for src in code for m in re.findall(r'^check\("([^"]+)"', src, re.M)]
    registered = [e.name for e in exercises(number)]
    assert checked == registered  # every exercise has its check cell, in order, and nothing else is checked
    assert set(registered) <= set(ANSWERS)  # and a right and a wrong answer in this test
    asks_code = [src for src in code if re.search(r'^check\("', src, re.M) and re.search(r"^def \w+\(", src, re.M)]
    computed = [s for s in (c.source for c in nb.cells if c.cell_type == "markdown") if "(code" in s]
    assert len(registered) >= 3 and len(computed) >= 3 and len(asks_code) >= 2
