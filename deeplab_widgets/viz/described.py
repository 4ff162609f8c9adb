"""A figure with alternative text, for notebooks and the docs site.

Jupyter shows a matplotlib figure as a bare PNG, and nbconvert (hence the docs site) then writes
`<img>` without `alt`, which screen readers cannot describe. `described(fig, alt)` renders the figure
once and displays it as an `<img>` carrying the description.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc

from ..errors import OptionsError


@dataclass(frozen=True)
class DescribedFigure:
    """PNG bytes of a figure and the sentence that describes it (shown as HTML in Jupyter)."""

    png: bytes = field(repr=False)
    alt: str

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        return (
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt, quote=True)}" style="max-width:100%">'
        )


def described(fig: Figure, alt: str, *, dpi: int = 90) -> DescribedFigure:
    """The figure as PNG with alternative text `alt` (what the figure shows, in one or two sentences).

    Raises `OptionsError` for an empty description.

    Args:
        fig: The figure.
        alt: What it shows, for readers who cannot see it.
        dpi: Resolution of the PNG.
    """
    if not alt.strip():
        raise OptionsError("a figure needs a description (alt text) that says what it shows")
    from .render import figure_png

    return DescribedFigure(figure_png(fig, dpi=dpi), alt.strip())
