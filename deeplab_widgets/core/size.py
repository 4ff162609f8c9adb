"""`Size`: every image, mask and input size in this package is (height, width), the order of a NumPy shape.

Pillow orders sizes the other way round, (width, height); code that calls Pillow converts at that call with
`Size.pil`, and reads a PIL image's size with `Size.of(image)`. A plain tuple is never a size here, so mypy
catches a Pillow size handed to a parameter that wants a `Size`.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..deprecation import deprecated
from ..errors import OptionsError


class Size(NamedTuple):
    """A size in pixels as (height, width): the order of a NumPy array's shape (`Size(*labels.shape)`).

    A tuple, so `h, w = size` and `size == labels.shape` work; `size.pil` is Pillow's (width, height).
    """

    height: int
    width: int

    @classmethod
    def of(cls, image: Image.Image | np.ndarray) -> Size:
        """The size of a PIL image or of an H x W (x C) array.

        Args:
            image: A PIL image, or an array whose first two dimensions are height and width.
        """
        if isinstance(image, Image.Image):
            return cls(image.height, image.width)
        return cls(int(image.shape[0]), int(image.shape[1]))

    @property
    def pil(self) -> tuple[int, int]:
        """(width, height), the order Pillow's `resize`, `new` and `size` use."""
        return self.width, self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def as_size(value: Size | tuple[int, int], name: str) -> Size:
    """`value` as a `Size`; a plain tuple is read as Pillow's (width, height), with a `DeprecationWarning`.

    For public parameters that took (width, height) tuples before `Size` (one release of grace).

    Args:
        value: A `Size`, or a plain (width, height) tuple.
        name: The parameter's name, for the warning.

    Raises:
        OptionsError: Not a pair, or a side that is not a positive integer.
    """
    if isinstance(value, Size):
        size = value
    else:
        if not isinstance(value, tuple) or len(value) != 2:
            raise OptionsError(f"{name} must be a Size(height, width), not {value!r}")
        width, height = value
        deprecated(
            f"{name} as a plain (width, height) tuple", f"pass Size(height={height}, width={width})", stacklevel=4
        )
        size = Size(height, width)
    for side in size:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 1:
            raise OptionsError(f"{name} must be a Size of two positive integers, not {value!r}")
    return Size(int(size.height), int(size.width))
