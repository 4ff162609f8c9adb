"""DownloadButton: a button that saves bytes from the kernel as a file through the browser (Voila too)."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

STATIC = Path(__file__).with_name("static")


class DownloadButton(anywidget.AnyWidget):
    """Set `data` (bytes) and `filename`; clicking saves them. Disabled while `data` is empty.

    `css_classes` go on the button itself (stable hooks for tests, e.g. `dlw-download-csv`).
    """

    _esm = STATIC / "download.js"
    data = traitlets.Bytes(b"").tag(sync=True)
    filename = traitlets.Unicode("download").tag(sync=True)
    mime = traitlets.Unicode("application/octet-stream").tag(sync=True)
    label = traitlets.Unicode("download").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    # ipywidgets' DOMWidgetView reads `description.length` whenever `tooltip` is set: without it, no view renders.
    description = traitlets.Unicode("").tag(sync=True)
    css_classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
