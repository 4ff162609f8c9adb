"""ImagePicker: sample thumbnails, an upload button and a path field; its `image` trait is the chosen photo."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import ipywidgets as widgets
import traitlets
from PIL import Image

from ..assets.samples import list_samples
from ..core.images import IMAGE_EXTENSIONS, ImageInput, load_image
from ..errors import DeeplabWidgetsError
from ..workflows.samples import load_sample
from .app_policy import AppPolicy, current_policy
from .status import error_html, info_html
from .upload_button import UploadButton, upload_content

THUMBNAIL_SIZE = 72


@cache
def thumbnail(name: str, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG of sample `name` for the gallery (made once per process).

    Args:
        name: A sample photo's name.
        size: The longer side in pixels.
    """
    image = load_sample(name)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


class ImagePicker(widgets.VBox):
    """Choose a photo: click a sample, upload a file or type a path.

    Observe `image` (an RGB PIL image); `source` says where it came from and `error` holds the last
    failure, which is also shown in the picker's status line while the previous image stays chosen.
    """

    image = traitlets.Instance(Image.Image, allow_none=True)
    source = traitlets.Unicode("")
    error = traitlets.Unicode("")

    def __init__(
        self,
        value: str | None = "cat",
        samples: Sequence[str] | None = None,
        *,
        policy: AppPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        """`policy` says whether the path field is offered (default: `current_policy()`, see `app_policy`).

        Args:
            value: The sample chosen first, or None.
            samples: The sample names offered (default: every sample photo).
            policy: Whether the path field is offered (default: `current_policy()`, see `app_policy`).
            **kwargs: Widget keywords (e.g. `layout`).
        """
        self.policy = policy or current_policy()
        names = list(samples) if samples is not None else [s.name for s in list_samples("photo")]
        self.buttons: dict[str, widgets.Button] = {}
        cells = []
        for name in names:
            button = widgets.Button(
                description=name, tooltip=f"segment the {name} sample", layout={"width": "auto", "min_width": "86px"}
            )
            button.add_class(f"dlw-sample-{name}")
            button.on_click(lambda _, n=name: self.select(n))
            self.buttons[name] = button
            try:
                thumb: widgets.Widget = widgets.Image(
                    value=thumbnail(name), format="jpeg", layout={"height": "56px", "width": "auto"}
                )
            except DeeplabWidgetsError:  # offline without the mirror: the button still says why when clicked
                thumb = widgets.HTML("<div style='height:56px;color:#777;font-size:11px'>not downloaded</div>")
            cells.append(widgets.VBox([thumb, button], layout={"align_items": "center", "flex": "0 0 auto"}))
        # One row that scrolls sideways, so the picture below starts within the first screen on small windows.
        self.gallery = widgets.HBox(cells, layout={"flex_flow": "row nowrap", "overflow": "auto"})
        self.gallery.add_class("dlw-gallery")
        self.upload = UploadButton(
            "Upload photo",
            accept=",".join(IMAGE_EXTENSIONS),
            tooltip=f"segment a photo of yours ({', '.join(IMAGE_EXTENSIONS)})",
            policy=self.policy,
        )
        self.upload.add_class("dlw-upload")
        folder = self.policy.folder if self.policy.app_mode else None
        self.path = widgets.Text(
            placeholder=f"or a file in {folder.name}/" if folder else "or a path: photos/street.jpg",
            continuous_update=False,
        )
        self.path.add_class("dlw-path")
        self.open_button = widgets.Button(
            description="Open", tooltip="open the file named at the left", layout={"width": "70px"}
        )
        self.status = widgets.HTML()
        self.status.add_class("dlw-picker-status")
        self.upload.observe(self._on_upload, names="value")
        self.path.observe(lambda change: self.open_path(change["new"]), names="value")
        self.open_button.on_click(lambda _: self.open_path(self.path.value))
        if not self.policy.paths_allowed:
            self.path.layout.display = self.open_button.layout.display = "none"
        row = widgets.HBox([self.upload, self.path, self.open_button, self.status], layout={"flex_flow": "row wrap"})
        super().__init__([self.gallery, row], **kwargs)
        self.add_class("dlw-image-picker")
        if value is not None:
            self.select(value)

    def select(self, name: str) -> None:
        """Choose the sample photo `name`.

        Args:
            name: A sample photo's name.
        """
        self._choose(lambda: load_sample(name), f"sample {name}")

    def open_path(self, path: str) -> None:
        """Choose the image at `path` (a blank path does nothing).

        Args:
            path: A file path (checked against the app policy).
        """
        text = path.strip()
        if not text:
            return
        try:
            target = self.policy.check_path(text)
        except DeeplabWidgetsError as exc:
            self._fail(f"{text}: {exc}")
            return
        self.load(target, text)

    def load(self, source: ImageInput, label: str = "image") -> bool:
        """Decode `source` (path, bytes, PIL image or array) and choose it; on error show it and return False.

        Args:
            source: A path, bytes, a PIL image or an array.
            label: What the status line and `source` call it.
        """
        return self._choose(lambda: load_image(source), label)

    def _choose(self, loader: Callable[[], Image.Image], label: str) -> bool:
        try:
            image = loader()
        except DeeplabWidgetsError as exc:
            self._fail(f"{label}: {exc}")
            return False
        self.error = ""
        self.status.value = info_html(f"{label} ({image.width}x{image.height})")
        with self.hold_trait_notifications():
            self.source = label
            self.image = image
        return True

    def _fail(self, message: str) -> None:
        self.error = ""  # so that the same failure twice is still a change observers see
        self.error = message
        self.status.value = error_html(message)

    def _on_upload(self, change: dict) -> None:
        if not change["new"]:
            return
        item = change["new"][-1]
        self.upload.value = ()  # so that uploading the same file again is seen as a change
        try:
            content = upload_content(item, self.policy)
        except DeeplabWidgetsError as exc:
            self._fail(f"upload {item['name']}: {exc}")
            return
        self.load(content, f"upload {item['name']}")
