"""The legend of a result: only the classes present, with their colour and pixel share."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..core.imaging import colors_of
from ..core.labels import Palette
from ..core.segmenter import SegmentationResult


@dataclass(frozen=True)
class LegendEntry:
    """One present class: id, name, RGB colour, share of the pixels, and whether it is shown."""

    id: int
    name: str
    color: tuple[int, int, int]
    fraction: float
    visible: bool = True

    @property
    def hex(self) -> str:
        """The colour as `#rrggbb`."""
        return "#{:02x}{:02x}{:02x}".format(*self.color)

    @property
    def percent(self) -> str:
        """The share as text, e.g. `42.1%` (`<0.1%` for slivers)."""
        return f"{self.fraction * 100:.1f}%" if self.fraction >= 0.001 else "<0.1%"


def _rgb(row: Sequence[int]) -> tuple[int, int, int]:
    return int(row[0]), int(row[1]), int(row[2])


def legend_entries(
    result: SegmentationResult, hidden: Iterable[int] = (), palette: Palette = "contrast"
) -> list[LegendEntry]:
    """Present classes, largest share first, with their colour in `palette` (the mask mode's colour).

    Args:
        result: The segmentation.
        hidden: Class ids marked as not visible.
        palette: The class colours: `"contrast"` (the default) or `"dataset"` (see `core.labels.Palette`).
    """
    hidden = set(hidden)
    colormap = colors_of(result, palette).colormap
    return [
        LegendEntry(s.id, s.name, _rgb(colormap[s.id]), s.fraction, s.id not in hidden)
        for s in result.present_classes()
    ]


def legend_html(entries: Iterable[LegendEntry]) -> str:
    """A compact HTML table: colour swatch, class name, share; hidden classes are struck through.

    Args:
        entries: The legend's entries (`legend_entries`).
    """
    rows = []
    for e in entries:
        name = html.escape(e.name) if e.visible else f"<s>{html.escape(e.name)}</s>"
        rows.append(
            f'<tr class="dlw-legend-row" data-class-id="{e.id}">'
            f'<td><span style="display:inline-block;width:14px;height:14px;border:1px solid #888;'
            f'background:{e.hex}"></span></td>'
            f'<td style="padding:0 8px">{name}</td><td style="text-align:right">{e.percent}</td></tr>'
        )
    if not rows:
        return "<i>no result yet</i>"
    return '<table class="dlw-legend-table" style="border-collapse:collapse">' + "".join(rows) + "</table>"
