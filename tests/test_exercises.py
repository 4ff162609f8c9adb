"""Self-checking exercises: right, not yet (with the hint, never the answer), functions run on real inputs."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_widgets import OptionsError
from deeplab_widgets.exercises import EXERCISES, check, exercise, exercises


@pytest.fixture
def practice():
    """Three exercises registered for the test and removed after it."""
    exercise("99.number", hint="count again", rel=0.01)(lambda: 12.5)
    exercise("99.array", hint="look at the shape", abs=1e-3)(lambda: np.arange(6.0).reshape(2, 3))
    exercise("99.function", hint="dilate the kernel", apply=lambda f: f(np.ones((3, 3)), 2))(
        lambda: np.full((5, 5), 9.0)
    )
    yield
    for name in ("99.number", "99.array", "99.function"):
        EXERCISES.pop(name)


def test_a_right_answer_within_the_tolerance_is_right(practice, capsys) -> None:
    assert check("99.number", 12.6)
    assert check("99.array", np.arange(6.0).reshape(2, 3) + 5e-4)
    assert capsys.readouterr().out == "99.number: right\n99.array: right\n"


def test_a_wrong_answer_gets_the_hint_and_never_the_answer(practice, capsys) -> None:
    assert not check("99.number", 14)
    assert not check("99.array", np.arange(6.0))
    assert not check("99.number", None)
    out = capsys.readouterr().out
    assert (
        out == "99.number: not yet - count again\n99.array: not yet - look at the shape\n99.number: not answered yet\n"
    )
    assert "12.5" not in out


def test_a_function_answer_is_run_on_the_exercises_inputs(practice, capsys) -> None:
    def dilated(kernel, rate):  # a learner's answer: the kernel spread out with holes
        out = np.zeros((rate * (kernel.shape[0] - 1) + 1,) * 2)
        out[::rate, ::rate] = kernel
        return np.full(out.shape, 9.0)

    assert check("99.function", dilated)
    assert not check("99.function", lambda kernel, rate: kernel)
    assert not check("99.function", lambda kernel, rate: 1 / 0)

    def stub(kernel, rate): ...  # a notebook's exercise cell before the learner writes the body

    assert not check("99.function", stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "99.function: right",
        "99.function: not yet - dilate the kernel",
        "99.function: not yet - your function raised ZeroDivisionError: division by zero",
        "99.function: not answered yet",
    ]


def test_an_unknown_exercise_names_the_notebooks_exercises(practice) -> None:
    with pytest.raises(
        OptionsError, match=r"^unknown exercise '99\.nope'; known: 99\.number, 99\.array, 99\.function$"
    ):
        check("99.nope", 1)
    assert [e.name for e in exercises("99")] == ["99.number", "99.array", "99.function"]
