"""A static picture of a batch run: every image's overlay with its classes, failures with their errors.

The `BatchGallery` widget needs a live kernel; this figure shows the same run on a static page (GitHub, the
docs site) and in saved reports. It reads only what the run wrote: the model does not run again.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..extras import dependency_error

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the widgets extra installs matplotlib
    raise dependency_error(__name__, "matplotlib") from exc
from PIL import Image

from ..core.images import load_image
from ..errors import OptionsError
from ..workflows.batch import BatchReport, ImageRecord


def _picture(record: ImageRecord, alpha: float) -> np.ndarray:
    if record.overlay is not None and Path(record.overlay).exists():
        return np.asarray(Image.open(record.overlay).convert("RGB"))
    if record.mask is None:
        raise OptionsError(f"{record.source}: the run wrote no mask to show")
    mask = Image.open(record.mask).convert("RGB")  # the palette PNG carries the class colours
    photo = load_image(record.source).resize(mask.size)
    return np.asarray(Image.blend(photo, mask, alpha))


def _legend(fig: Figure, report: BatchReport) -> None:
    """A legend of every class found, coloured from the palette the masks were written with."""
    from matplotlib.patches import Patch

    masks = [r.mask for r in report.records if r.ok and r.mask is not None and Path(r.mask).exists()]
    if not masks:
        return
    with Image.open(masks[0]) as im:
        palette = im.getpalette() or []
    found = sorted({(c.id, c.name) for r in report.records if r.ok for c in r.classes})
    handles = [
        Patch(color=tuple(v / 255 for v in palette[3 * i : 3 * i + 3]), label=name)
        for i, name in found
        if len(palette) >= 3 * i + 3
    ]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(8, len(handles)), fontsize=8, title="classes")


def plot_batch_report(report: BatchReport, *, cols: int = 3, alpha: float = 0.6, title: str = "") -> Figure:
    """One panel per record in input order: the overlay titled with the file and its classes (ok, skipped),

    or the error message (failed). Raises `OptionsError` for an empty report or `cols` < 1.

    Args:
        report: A finished run's report (its masks are read back).
        cols: Panels per row.
        alpha: Opacity of the class colours in the overlays.
        title: The figure title (default: the run's counts).
    """
    if not report.records:
        raise OptionsError("the report has no records to show")
    if cols < 1:
        raise OptionsError(f"cols must be at least 1, not {cols}")
    rows = -(-len(report.records) // cols)
    fig = Figure(figsize=(3.4 * cols, 3.0 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    root = Path(report.out_dir) if report.out_dir else None
    for ax, record in zip(axes, report.records, strict=False):
        name = Path(record.source).name
        if record.mask is not None and root is not None and Path(record.mask).is_relative_to(root):
            name = Path(record.mask).relative_to(root).as_posix().replace("_mask.png", "")
        if record.ok:
            ax.imshow(_picture(record, alpha))
            classes = ", ".join(f"{c.name} {c.fraction:.0%}" for c in record.classes[:3])
            ax.set_title(f"{name} ({record.status})\n{classes}", fontsize=8)
        else:
            ax.text(
                0.5,
                0.5,
                "\n".join(textwrap.wrap(f"failed: {record.error}", 36)),
                ha="center",
                va="center",
                fontsize=8,
                color="#C44E52",
                transform=ax.transAxes,
            )
            ax.set_title(f"{name} (failed)", fontsize=8)
    _legend(fig, report)
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "skipped", "failed") if report.count(s))
    fig.suptitle(title or f"Batch run: {counts} ({report.engine})", fontsize=10)
    return fig
