"""Old names kept for one release: each use warns with a `DeprecationWarning` that names the replacement.

Every deprecated name is listed in CHANGELOG.md with the release that removes it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that `old` is deprecated in favour of `new` (`stacklevel` 3: the caller of the function calling this).

    Args:
        old: What the caller used, e.g. `"segment_many(workers=...)"`.
        new: What to use instead, as advice, e.g. `"pass engine=Processes(n)"`.
        stacklevel: Frames up to the caller's line (3: the caller of the function that calls this).
    """
    warnings.warn(f"{old} is deprecated and will be removed in the next release; {new}", DeprecationWarning, stacklevel)


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """A decorator: keyword arguments under their old names (`old="new"`) still work, with a warning.

    Giving both the old and the new name is a `TypeError`, as any duplicate argument is.

    Args:
        **renames: `old="new"` for each renamed keyword.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{function.__name__}() got both {old}= and its new name {new}=")
                    deprecated(f"{function.__name__}({old}=...)", f"use {new}=...")
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
