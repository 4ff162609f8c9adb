"""What visitors of the app may do: in app mode (Voila serving the Workbench) no server paths or delegates.

Notebook mode (the user's own kernel) keeps every field. App mode is detected from the environment Voila gives
its kernels (`SERVER_SOFTWARE=voila/...`) or forced with `DEEPLAB_WIDGETS_APP_MODE=1`. In app mode:
- the photo, model and labels path fields are off unless `DEEPLAB_WIDGETS_APP_FOLDER` names a folder; then only
  files inside it open, and a refusal never says whether a path outside it exists;
- external delegates are off (loading one would `dlopen` a library from the server's disk);
- uploads (photos, videos, .tflite models, labels files) over `DEEPLAB_WIDGETS_MAX_UPLOAD_MB` (default 50) are
  refused before they are parsed (`UploadTooLargeError`); the browser refuses them before sending them; a video
  whose frames are larger than 4K is refused before its frames are decoded;
- the chunks of uploads still arriving may hold at most `DEEPLAB_WIDGETS_MAX_UNFINISHED_UPLOAD_MB` in the kernel
  (default twice the upload limit: a photo and a model at once); an upload that would go over is dropped.

A widget's state (its `disabled` flag, its `layout.display`) is whatever the visitor's browser sends, so hiding
a field is presentation only: every code path that opens a file, loads a library or runs a model for a visitor
calls one of the `check_*` methods of the one `AppPolicy` the Workbench hands to all its parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from ..assets.zoo import model_names
from ..core.model import ModelInput, ModelSpec
from ..core.runtime import RuntimeOptions
from ..errors import AccessDeniedError, UploadTooLargeError

APP_MODE_ENV = "DEEPLAB_WIDGETS_APP_MODE"
APP_FOLDER_ENV = "DEEPLAB_WIDGETS_APP_FOLDER"
MAX_UPLOAD_ENV = "DEEPLAB_WIDGETS_MAX_UPLOAD_MB"
MAX_UNFINISHED_UPLOAD_ENV = "DEEPLAB_WIDGETS_MAX_UNFINISHED_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50.0
#: The most pixels a frame of a visitor's video may have in app mode (4K): decoding larger frames takes the server
#: memory and time that no display here needs (frames are shown at most 640 pixels wide).
MAX_APP_VIDEO_PIXELS = 3840 * 2160
#: The refusal of any external delegate in app mode: the same words whatever the library and whether it exists.
NO_DELEGATES = "this app does not load external delegates"


@dataclass(frozen=True)
class AppPolicy:
    """What a visitor may open, load and send: `app_mode`, the one `folder` paths may name, the upload limits.

    `max_unfinished_upload_mb=None` means twice `max_upload_mb`.
    """

    app_mode: bool = False
    folder: Path | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_unfinished_upload_mb: float | None = None

    @property
    def paths_allowed(self) -> bool:
        """True when the path fields are shown (notebook mode, or app mode with a folder)."""
        return not self.app_mode or self.folder is not None

    @property
    def delegate_allowed(self) -> bool:
        """True when the external delegate fields are shown (notebook mode only)."""
        return not self.app_mode

    def check_path(self, text: str) -> str:
        """The path to open for `text` typed by a visitor (a photo, model or labels file).

        Raises `AccessDeniedError` in app mode for a path outside the folder (every path without one). The
        message is the same whether or not the path exists, so it reveals nothing outside the folder.

        Args:
            text: The path a visitor typed.
        """
        if not self.app_mode:
            return text
        if self.folder is None:
            raise AccessDeniedError("this app opens uploads only; paths on the server are switched off")
        root = self.folder.resolve()
        candidate = (root / text).resolve()
        if candidate != root and root not in candidate.parents:
            raise AccessDeniedError(f"this app opens only files in its own folder; {text!r} is not one of them")
        return str(candidate)

    @overload
    def check_model(self, model: ModelSpec) -> ModelSpec: ...
    @overload
    def check_model(self, model: ModelInput) -> ModelInput: ...
    def check_model(self, model: ModelInput | ModelSpec) -> ModelInput | ModelSpec:
        """The model to load for `model`: a zoo name, uploaded bytes or a loaded `ModelSpec` as they are, a path
        through `check_path` (raises `AccessDeniedError` outside the folder in app mode)."""
        if not self.app_mode or (isinstance(model, str) and model in model_names()):
            return model
        if isinstance(model, (str, os.PathLike)):
            return self.check_path(os.fspath(model))
        return model  # uploaded bytes or a loaded ModelSpec

    def check_delegate(self, delegate: str | None) -> str | None:
        """`delegate` (a library path or name, or None); raises `AccessDeniedError` for any library in app mode.

        The message never names the library, so it is the same for one that exists and one that does not.
        """
        if self.app_mode and delegate is not None and delegate.strip():
            raise AccessDeniedError(NO_DELEGATES)
        return delegate

    def check_options(self, options: RuntimeOptions) -> RuntimeOptions:
        """`options` if they load no library app mode refuses (see `check_delegate`); raises `AccessDeniedError`."""
        self.check_delegate(options.delegate)
        return options

    @property
    def upload_limit_bytes(self) -> int:
        """The largest upload accepted, in bytes; 0 means no limit (notebook mode)."""
        return int(self.max_upload_mb * 1e6) if self.app_mode else 0

    def check_upload(self, name: str, size: int) -> None:
        """Raise `UploadTooLargeError` for an upload over the size limit in app mode (call it before parsing).

        The message gives the size, the limit, and the variable that raises it (whoever runs the app sets it).

        Args:
            name: The uploaded file's name, for the message.
            size: Its size in bytes (as the browser reports it, or as received).
        """
        limit = self.upload_limit_bytes
        if limit and size > limit:
            raise UploadTooLargeError(
                f"{name} is {size / 1e6:.3g} MB; this app accepts uploads up to {self.max_upload_mb:g} MB "
                f"(whoever runs the app can raise the limit with {MAX_UPLOAD_ENV}=<MB>)"
            )

    def check_video(self, name: str, width: int, height: int) -> None:
        """Raise `UploadTooLargeError` in app mode for a video whose frames are over `MAX_APP_VIDEO_PIXELS` (call it
        with the size `video_info` reads from the header, before decoding frames).

        Args:
            name: The video's name, for the message.
            width: Its frame width in pixels.
            height: Its frame height in pixels.
        """
        if self.app_mode and width * height > MAX_APP_VIDEO_PIXELS:
            raise UploadTooLargeError(
                f"{name} has {width}x{height} frames; this app plays videos up to 3840x2160 (4K) pixels a frame"
            )

    @property
    def unfinished_upload_mb(self) -> float:
        """The most the chunks of unfinished uploads may hold in the kernel, in MB (app mode)."""
        if self.max_unfinished_upload_mb is not None:
            return self.max_unfinished_upload_mb
        return 2 * self.max_upload_mb

    @property
    def unfinished_upload_limit_bytes(self) -> int:
        """`unfinished_upload_mb` in bytes; 0 means no limit (notebook mode)."""
        return int(self.unfinished_upload_mb * 1e6) if self.app_mode else 0

    def check_unfinished_uploads(self, held: int) -> None:
        """Raise `UploadTooLargeError` when unfinished uploads would hold `held` bytes, over the limit in app mode.

        The caller drops the upload whose chunk went over (its partial data with it).
        """
        limit = self.unfinished_upload_limit_bytes
        if limit and held > limit:
            raise UploadTooLargeError(
                f"too many unfinished uploads at once: this one would bring them to {held / 1e6:.3g} MB and the app "
                f"holds at most {self.unfinished_upload_mb:g} MB, so it was dropped; send it again once the others "
                f"have finished (whoever runs the app can raise the limit with {MAX_UNFINISHED_UPLOAD_ENV}=<MB>)"
            )


def _megabytes(name: str) -> float | None:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return None


def current_policy() -> AppPolicy:
    """The policy for this kernel, from the environment (see the module docstring)."""
    forced = os.environ.get(APP_MODE_ENV, "").strip().lower()
    app_mode = forced in ("1", "true", "yes") or (
        forced not in ("0", "false", "no") and os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")
    )
    folder = os.environ.get(APP_FOLDER_ENV, "").strip()
    limit = _megabytes(MAX_UPLOAD_ENV)
    return AppPolicy(
        app_mode=app_mode,
        folder=Path(folder) if folder else None,
        max_upload_mb=DEFAULT_MAX_UPLOAD_MB if limit is None else limit,
        max_unfinished_upload_mb=_megabytes(MAX_UNFINISHED_UPLOAD_ENV),
    )
