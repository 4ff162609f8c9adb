"""The lessons' exercises (notebooks 02, 03, 05, 06) tell a right answer from a wrong one on the real models and data.

Each exercise gets a reference solution, written here as a learner would write it with the package's public API
(never the package's own expected value), and a typical wrong answer; the check must say *right* to the first
and *not yet* to the second. Each notebook's check cells must name exactly its registered exercises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from deeplab_widgets import Segmenter, load_sample
from deeplab_widgets.exercises import check, exercises

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {"02": "02_inference.ipynb"}


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


#: Exercise -> (the right answer, a wrong one), each made when the test runs.
ANSWERS: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "02.pad-layout": (lambda: pad_content, lambda: pad_content_landscape_only),
    "02.normalise": (
        lambda: lambda pixels: (pixels.astype(np.float32) - 127.5) / 127.5,
        lambda: lambda pixels: pixels.astype(np.float32) / 255.0,
    ),
    "02.entropy": (lambda: entropy_map, lambda: lambda scores: 1.0 - scores.max(axis=-1)),
    "02.unsure-background": (pets_unsure_background, lambda: pets_unsure_background(shifted=0.05)),
    "02.greyscale": (greyscale_classes, lambda: greyscale_classes() | {"cat"}),
}


@pytest.mark.parametrize("name", list(ANSWERS))
def test_an_exercise_says_right_to_the_reference_solution_and_not_yet_to_a_wrong_answer(name, capsys) -> None:
    right, wrong = ANSWERS[name]
    assert check(name, right())
    assert not check(name, wrong())
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
