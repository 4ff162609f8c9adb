"""UploadButton: a file upload button whose label stays what it says ("Upload photo"), in JupyterLab and Voila.

ipywidgets 8's `FileUpload` writes `f"{description} ({len(value)})"` into its button, so a widget that clears
its value after reading it shows a stuck "Upload (0)". This button has a plain label and no counter. The file
goes to the kernel in chunks of 4 MB (one message each), under the server's 10 MiB websocket message limit.

The chunks of a file still arriving are held in the kernel; what every UploadButton of the kernel holds that way
is counted in one ledger (`unfinished_bytes()`), which the app's policy caps
(`AppPolicy.check_unfinished_uploads`): a chunk that would go over drops its upload and the data received so far.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import UploadTooLargeError
from .app_policy import AppPolicy, current_policy

STATIC = Path(__file__).with_name("static")

_ledger_lock = threading.Lock()
_held: dict[tuple[int, str], int] = {}  # (id of the button, upload id) -> bytes received so far


def unfinished_bytes() -> int:
    """The bytes every UploadButton of this kernel holds in uploads whose last chunk has not arrived."""
    with _ledger_lock:
        return sum(_held.values())


def upload_content(item: Mapping[str, Any], policy: AppPolicy) -> bytes:
    """The content of an UploadButton `value` item the policy accepts (call it before parsing the file).

    Raises:
        UploadTooLargeError: The upload was refused on its way (`item["error"]`: unfinished uploads over the
            limit), or it is over the size limit (refused by the browser, cut off, or set from code).
    """
    if item.get("error"):
        raise UploadTooLargeError(str(item["error"]))
    policy.check_upload(str(item["name"]), max(int(item["size"]), len(item["content"])))
    return bytes(item["content"])


class UploadButton(anywidget.AnyWidget):
    """Click, choose a file: `value` becomes `({"name", "type", "size", "content"},)` (`content` a memoryview).

    The item has the keys `FileUpload` gives, so code can set `value` itself as well; read it with
    `upload_content(item, policy)`. `max_bytes` (default: the policy's upload limit; 0: no limit) stops a larger
    file in the browser before it is sent: `value` then holds its name and size with empty `content`, for the
    kernel to refuse (see `AppPolicy.check_upload`). A file that arrives larger than `max_bytes` anyway is cut off
    the same way. An upload whose chunks would take the kernel's unfinished uploads over the policy's limit is
    dropped: `value` holds its name, empty `content` and the reason in `error`. Set `value = ()` after reading it
    to see the same file again.

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

    def __init__(self, label: str = "Upload", *, policy: AppPolicy | None = None, **kwargs: Any) -> None:
        self.policy = policy or current_policy()
        kwargs.setdefault("max_bytes", self.policy.upload_limit_bytes)
        super().__init__(label=label, **kwargs)
        self._parts: dict[str, list[bytes]] = {}
        self.on_msg(self._on_message)

    def _on_message(self, _: Any, content: dict, buffers: list) -> None:
        """Collect a file's chunks; `value` changes once the last one is in (or the file is refused)."""
        if not isinstance(content, dict):
            return
        name, kind = str(content.get("name", "")), str(content.get("type", ""))
        event = content.get("event")
        if event == "too_large":
            self._drop_all()
            self._refuse(name, kind, int(content.get("size", 0)))
            return
        if event != "chunk" or not buffers:
            return
        key = str(content.get("upload", ""))
        try:
            index, count = int(content.get("index", 0)), int(content.get("count", 1))
        except (TypeError, ValueError):
            return  # not what upload.js sends
        if key not in self._parts:
            if index != 0:
                return  # the rest of an upload dropped earlier: it is not collected again
            self._parts[key] = []
        chunk = bytes(buffers[0])
        received = sum(len(p) for p in self._parts[key]) + len(chunk)
        if self.max_bytes and received > self.max_bytes:  # more than the browser said: refuse what came so far
            self._drop(key)
            self._refuse(name, kind, received)
            return
        if index + 1 < count:
            try:
                self.policy.check_unfinished_uploads(unfinished_bytes() + len(chunk))
            except UploadTooLargeError as exc:
                self._drop(key)
                self._refuse(name, kind, received, str(exc))
                return
            self._parts[key].append(chunk)
            with _ledger_lock:
                _held[id(self), key] = received
            return
        data = b"".join([*self._parts[key], chunk])
        self._drop(key)
        self.value = ({"name": name, "type": kind, "size": len(data), "content": memoryview(data)},)

    def _refuse(self, name: str, kind: str, size: int, error: str = "") -> None:
        item = {"name": name, "type": kind, "size": size, "content": memoryview(b"")}
        self.value = ({**item, "error": error} if error else item,)

    def _drop(self, key: str) -> None:
        """Forget upload `key` and the chunks it holds."""
        self._parts.pop(key, None)
        with _ledger_lock:
            _held.pop((id(self), key), None)

    def _drop_all(self) -> None:
        for key in list(getattr(self, "_parts", ())):
            self._drop(key)

    def close(self) -> None:
        """Close the widget and drop its unfinished uploads (ipywidgets also calls it when the widget is deleted)."""
        self._drop_all()
        super().close()
