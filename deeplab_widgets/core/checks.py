"""Argument checks for the public entry points: a wrong type or value is an `OptionsError` that names the parameter.

Each function returns the value in its canonical form (an `int`, a `float`, a `Path`), so callers write
`count = check_int("limit", limit, minimum=1)` and use what comes back.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from ..errors import OptionsError

T = TypeVar("T")


def _kind(value: Any) -> str:
    return type(value).__name__


def check_flag(name: str, value: Any) -> bool:
    """`value` as a bool; only `True` and `False` (and NumPy's booleans) are flags.

    Raises:
        OptionsError: Anything else, e.g. `"no"`, which Python would take as true.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise OptionsError(f"{name} must be True or False, not {value!r}")


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int within [minimum, maximum] (either bound may be None).

    Raises:
        OptionsError: Not an integer (a bool is not one), or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise OptionsError(f"{name} must be an integer, not {_kind(value)} {value!r}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise OptionsError(f"{name} must be {_range(minimum, maximum)}, not {number}")
    return number


def check_number(
    name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None, below: float | None = None
) -> float:
    """`value` as a finite float within [minimum, maximum] (or below `below`, exclusive).

    Raises:
        OptionsError: Not a real number, NaN or infinite, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise OptionsError(f"{name} must be a finite number, not {value!r}")
    number = float(value)
    too_low = minimum is not None and number < minimum
    too_high = (maximum is not None and number > maximum) or (below is not None and number >= below)
    if too_low or too_high:
        upper = f"below {below:g}" if below is not None else None
        raise OptionsError(f"{name} must be {_range(minimum, maximum, upper)}, not {number:g}")
    return number


def _range(minimum: float | None, maximum: float | None, upper: str | None = None) -> str:
    high = upper or (f"at most {maximum:g}" if maximum is not None else None)
    if minimum is not None and high is not None:
        return f"at least {minimum:g} and {high}"
    return f"at least {minimum:g}" if minimum is not None else high or "a number"


def check_path(name: str, value: Any) -> Path:
    """`value` as a `Path`.

    Raises:
        OptionsError: Not a `str` or `os.PathLike`.
    """
    if not isinstance(value, (str, os.PathLike)):
        raise OptionsError(f"{name} must be a path (str or pathlib.Path), not {_kind(value)}")
    return Path(value)


def check_file_name(name: str, value: Any) -> str:
    """`value` as a plain file name, written inside a folder the caller chose (no folder part, not `..`).

    Raises:
        OptionsError: Not a string, empty, or naming another folder (`../x`, `a/b`).
    """
    if not isinstance(value, str):
        raise OptionsError(f"{name} must be a file name (str), not {_kind(value)}")
    if value in ("", ".", "..") or Path(value).name != value or "\\" in value:
        raise OptionsError(f"{name} must be a plain file name inside the output folder, not {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Collection[T]) -> T:
    """`value` when it is one of `choices`.

    Raises:
        OptionsError: Anything else; the message lists the choices.
    """
    try:
        if value in choices:
            return value
    except TypeError:  # an unhashable value looked up in a set
        pass
    raise OptionsError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, choices))}")


def check_instance(name: str, value: Any, cls: type[T], expected: str) -> T:
    """`value` when it is a `cls`.

    Raises:
        OptionsError: Anything else; `expected` says what to pass (e.g. "a RuntimeOptions").
    """
    if not isinstance(value, cls):
        raise OptionsError(f"{name} must be {expected}, not {_kind(value)}")
    return value
