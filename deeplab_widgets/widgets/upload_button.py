"""UploadButton: a file upload button whose label stays what it says ("Upload photo"), in JupyterLab and Voila.

ipywidgets 8's `FileUpload` writes `f"{description} ({len(value)})"` into its button, so a widget that clears
its value after reading it shows a stuck "Upload (0)". This button has a plain label and no counter. The file
goes to the kernel in chunks of 4 MB (one message each), under the server's 10 MiB websocket message limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

STATIC = Path(__file__).with_name("static")


class UploadButton(anywidget.AnyWidget):
    """Click, choose a file: `value` becomes `({"name", "type", "size", "content"},)` (`content` a memoryview).

    The item has the keys `FileUpload` gives, so code can set `value` itself as well. `max_bytes` (0: no limit)
    stops a larger file in the browser before it is sent: `value` then holds its name and size with empty
    `content`, for the kernel to refuse (see `AppPolicy.check_upload`). A file that arrives larger than
    `max_bytes` anyway is cut off the same way. Set `value = ()` after reading it to see the same file again.

    Args:
        label: The button's text.
        **kwargs: Trait values (`accept`, `tooltip`, `max_bytes`) and widget keywords.
    """

    _esm = STATIC / "upload.js"
    label = traitlets.Unicode("Upload").tag(sync=True)
    accept = traitlets.Unicode("").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    # ipywidgets' DOMWidgetView reads `description.length` whenever `tooltip` is set: without it, no view renders.
    description = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    max_bytes = traitlets.Int(0, min=0).tag(sync=True)
    value = traitlets.Tuple()

    def __init__(self, label: str = "Upload", **kwargs: Any) -> None:
        super().__init__(label=label, **kwargs)
        self._parts: dict[str, list[bytes]] = {}
        self.on_msg(self._on_message)

    def _on_message(self, _: Any, content: dict, buffers: list) -> None:
        """Collect a file's chunks; `value` changes once the last one is in (or the file is over `max_bytes`)."""
        name, kind = str(content.get("name", "")), str(content.get("type", ""))
        event = content.get("event")
        if event == "too_large":
            self._parts.clear()
            self.value = (
                {"name": name, "type": kind, "size": int(content.get("size", 0)), "content": memoryview(b"")},
            )
            return
        if event != "chunk" or not buffers:
            return
        key = str(content.get("upload", ""))
        parts = self._parts.setdefault(key, [])
        parts.append(bytes(buffers[0]))
        received = sum(len(p) for p in parts)
        if self.max_bytes and received > self.max_bytes:  # more than the browser said: refuse what came so far
            del self._parts[key]
            self.value = ({"name": name, "type": kind, "size": received, "content": memoryview(b"")},)
            return
        if int(content.get("index", 0)) + 1 < int(content.get("count", 1)):
            return
        data = b"".join(self._parts.pop(key))
        self.value = ({"name": name, "type": kind, "size": len(data), "content": memoryview(data)},)
