"""Exercises that check themselves: `check(name, answer)` says *right* or *not yet* without giving the answer away.

Each notebook's exercises are defined in a module of this package (`notebook01`, ...), next to the code that
computes their expected answers on the real models, so no answer is written in a notebook. An answer may be a
number, a sequence, an array, or a function the learner wrote: a function is called on the exercise's real inputs
and its output compared.

    from deeplab_widgets.exercises import check
    check("01.receptive-field", my_answer)   # prints "01.receptive-field: right" or "... not yet: <hint>"
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from ..errors import OptionsError

__all__ = ["EXERCISES", "Exercise", "check", "exercise", "exercises", "returned"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: how to compute its expected answer, how close an answer must be, and a hint.

    Attributes:
        name: `"<notebook>.<slug>"`, e.g. `"01.receptive-field"`.
        expected: Computes the expected answer (on the real models; called once, on the first check).
        hint: What to reconsider when the answer is not yet right; never the answer itself.
        rel: Relative tolerance for numbers and arrays.
        abs: Absolute tolerance for numbers and arrays.
        apply: For exercises whose answer is a function the learner wrote: calls it on the exercise's real
            inputs and returns what is compared with `expected`.
    """

    name: str
    expected: Callable[[], Any] = field(repr=False)
    hint: str
    rel: float = 0.0
    abs: float = 0.0
    apply: Callable[[Callable[..., Any]], Any] | None = field(default=None, repr=False)


def returned(value: Any, convert: Callable[[Any], Any]) -> Any:
    """`convert(value)`, or None when a learner's function returned None (still a stub), for `apply` functions.

    Args:
        value: What the learner's function returned.
        convert: Turns it into the value compared with the expected answer (e.g. `np.asarray`).
    """
    return None if value is None else convert(value)


def returned_each(values: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any] | None:
    """`convert` of each of `values`, or None when a learner's function returned None for any (still a stub).

    Args:
        values: What the learner's function returned, once per input it was run on.
        convert: Turns one of them into the value compared with the expected answer (e.g. `int`).
    """
    return None if any(v is None for v in values) else [convert(v) for v in values]


#: Every exercise by name, filled by the notebook modules of this package as they are imported.
EXERCISES: dict[str, Exercise] = {}


def exercise(
    name: str,
    *,
    hint: str,
    rel: float = 0.0,
    abs: float = 0.0,
    apply: Callable[[Callable[..., Any]], Any] | None = None,
) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register the decorated function as the computation of exercise `name`'s expected answer.

    Args:
        name: `"<notebook>.<slug>"`.
        hint: Shown with *not yet*.
        rel: Relative tolerance for numbers and arrays.
        abs: Absolute tolerance for numbers and arrays.
        apply: For an answer that is a function: turns it into the value to compare (see `Exercise.apply`).
    """

    def register(expected: Callable[[], Any]) -> Callable[[], Any]:
        EXERCISES[name] = Exercise(name, expected, hint, rel, abs, apply)
        return expected

    return register


@cache
def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def exercises(notebook: str | None = None) -> list[Exercise]:
    """The exercises, all or those of one notebook (`"01"`), in the order they were defined.

    Args:
        notebook: The notebook's number, or None for all.
    """
    _load_all()
    return [e for n, e in EXERCISES.items() if notebook is None or n.split(".")[0] == notebook]


@cache
def _expected(name: str) -> Any:
    return EXERCISES[name].expected()


def _close(answer: Any, expected: Any, rel: float, abs_: float) -> bool:
    """Whether `answer` matches `expected`: numbers and arrays within the tolerances, everything else equal."""
    if isinstance(expected, np.ndarray) or isinstance(answer, np.ndarray):
        a, e = np.asarray(answer), np.asarray(expected)
        if a.shape != e.shape:
            return False
        if np.issubdtype(e.dtype, np.number) and np.issubdtype(a.dtype, np.number):
            return bool(np.allclose(a, e, rtol=rel, atol=abs_, equal_nan=False))
        return bool(np.array_equal(a, e))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(answer, bool) or not isinstance(answer, (int, float, np.number)):
            return False
        return math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_)
    if isinstance(expected, (set, frozenset)):
        return isinstance(answer, (set, frozenset, list, tuple)) and set(answer) == expected
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        return (
            isinstance(answer, Sequence)
            and not isinstance(answer, str)
            and len(answer) == len(expected)
            and all(_close(a, e, rel, abs_) for a, e in zip(answer, expected, strict=True))
        )
    return bool(answer == expected)


def check(name: str, answer: Any) -> bool:
    """Say whether `answer` is right for exercise `name`; prints one line and returns True or False.

    Prints `"<name>: right"`, `"<name>: not answered yet"` (answer None, or a function that returns None, such as
    a notebook's stub) or `"<name>: not yet - <hint>"`. The expected answer is never printed. An answer that is a function is called by the exercise on its real inputs
    (an error inside it counts as *not yet*, and its message is shown).

    Args:
        name: The exercise, e.g. `"01.receptive-field"`.
        answer: A number, a sequence, an array, or the function the exercise asks for.

    Raises:
        OptionsError: `name` is not an exercise (the message lists the notebook's exercises).
    """
    _load_all()
    if name not in EXERCISES:
        known = ", ".join(e.name for e in exercises(name.split(".")[0])) or ", ".join(EXERCISES)
        raise OptionsError(f"unknown exercise {name!r}; known: {known}")
    ex = EXERCISES[name]
    if answer is None:
        print(f"{name}: not answered yet")
        return False
    if ex.apply is not None:
        try:
            answer = ex.apply(answer)
        except Exception as exc:  # the learner's own code failed: say how, as a hint
            print(f"{name}: not yet - your function raised {type(exc).__name__}: {exc}")
            return False
        if answer is None:  # the notebook's stub (a body of `...`) returns None
            print(f"{name}: not answered yet")
            return False
    right = _close(answer, _expected(name), ex.rel, ex.abs)
    print(f"{name}: right" if right else f"{name}: not yet - {ex.hint}")
    return right
