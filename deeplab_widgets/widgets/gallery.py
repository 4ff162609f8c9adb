"""BatchGallery: thumbnails of a batch run with the classes found; click one to open it in a MaskViewer."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path

import ipywidgets as widgets

from ..core.images import load_image
from ..errors import DeeplabWidgetsError
from ..viz.render import DISPLAY_FORMAT, encode
from ..viz.thumbnails import THUMBNAIL_SIZE, thumbnail
from ..workflows.batch import BatchReport, ImageRecord, load_result
from .mask_viewer import MaskViewer


class BatchGallery(widgets.VBox):
    """A grid of result thumbnails from `segment_many` records; "open" shows one in `viewer` (no model runs).

    Feed it a finished `BatchReport`, a list of records, or records one by one with `add()` while a run goes.
    Failed images get a tile with their error; problems opening one go to the status line.

    Args:
        records: A finished `BatchReport` or records (more can be added with `add`).
        class_names: Class names for the viewer (default: those each record lists).
        size: The thumbnails' longer side in pixels.
        columns: Thumbnails per row.
        viewer: The viewer "open" shows results in (default: a new `MaskViewer`).
    """

    def __init__(
        self,
        records: BatchReport | Iterable[ImageRecord] = (),
        *,
        class_names: Sequence[str] | None = None,
        size: int = THUMBNAIL_SIZE,
        columns: int = 4,
        viewer: MaskViewer | None = None,
    ) -> None:
        self.class_names = class_names
        self.size = size
        self.records: list[ImageRecord] = []
        self.tiles: list[widgets.VBox] = []
        self.selected: int | None = None
        self.viewer = viewer or MaskViewer()
        self.grid = widgets.GridBox(
            layout={"grid_template_columns": f"repeat({columns}, {size + 16}px)", "grid_gap": "6px"}
        )
        self.grid.add_class("dlw-gallery")
        self.status = widgets.HTML("<i>no images yet</i>")
        self.status.add_class("dlw-status")
        super().__init__([self.status, self.grid, self.viewer])
        for record in records.records if isinstance(records, BatchReport) else records:
            self.add(record)

    def add(self, record: ImageRecord) -> None:
        """Append one record's tile (a thumbnail and an open button, or its error).

        Args:
            record: A record of a run (failed records show their error).
        """
        self.records.append(record)
        tile = self._tile(len(self.records) - 1, record)
        self.tiles.append(tile)
        self.grid.children = (*self.grid.children, tile)
        self._count()

    def show_record(self, index: int) -> None:
        """Show record `index` in the viewer; on failure keep what is shown and say why in the status line.

        Args:
            index: The record's position in the gallery.
        """
        record = self.records[index]
        if not record.ok:
            self.status.value = (
                f"<span style='color:#b00'>{html.escape(_name(record))} was not segmented: "
                f"{html.escape(record.error or '')}</span>"
            )
            return
        try:
            result = load_result(record, self.class_names)
            image = load_image(record.source)
        except (DeeplabWidgetsError, ValueError) as exc:
            self.status.value = (
                f"<span style='color:#b00'>cannot open {html.escape(_name(record))}: {html.escape(str(exc))}</span>"
            )
            return
        self.viewer.show(image, result)
        self.selected = index
        self.status.value = f"showing <b>{html.escape(_name(record))}</b>; {self._summary()}"

    def _tile(self, index: int, record: ImageRecord) -> widgets.VBox:
        name = _name(record)
        label = widgets.HTML(f"<b title='{html.escape(record.source)}'>{html.escape(name)}</b>")
        if not record.ok:
            error = widgets.HTML(f"<span style='color:#b00'>{html.escape(record.error_type or 'error')}</span>")
            error.add_class("dlw-error")
            tile = widgets.VBox([label, error], layout={"width": f"{self.size + 12}px"})
            tile.add_class("dlw-tile-failed")
            return tile
        picture = widgets.Image(format=DISPLAY_FORMAT, layout={"max_width": f"{self.size}px"})
        try:
            picture.value = encode(
                thumbnail(load_image(record.source), load_result(record, self.class_names), self.size)
            )
        except (DeeplabWidgetsError, ValueError) as exc:
            picture = widgets.HTML(f"<i>no thumbnail: {html.escape(str(exc))}</i>")
        classes = ", ".join(c.name for c in record.classes if c.id != 0 or len(record.classes) == 1)
        found = widgets.HTML(f"<small>{html.escape(classes or 'background only')}</small>")
        found.add_class("dlw-found")
        button = widgets.Button(description="open", tooltip=f"open {name} in the viewer", layout={"width": "auto"})
        button.on_click(lambda _: self.show_record(index))
        tile = widgets.VBox([picture, label, found, button], layout={"width": f"{self.size + 12}px"})
        tile.add_class("dlw-tile")
        tile.button = button
        return tile

    def _summary(self) -> str:
        failed = sum(not r.ok for r in self.records)
        return f"{len(self.records)} images, {failed} failed"

    def _count(self) -> None:
        if self.selected is None:
            self.status.value = self._summary()


def _name(record: ImageRecord) -> str:
    return Path(record.source).name if not record.source.startswith("<") else record.source
