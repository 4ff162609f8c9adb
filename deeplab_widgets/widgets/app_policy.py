"""What visitors of the app may do: in app mode (Voila serving the Workbench) no server paths or delegates.

Notebook mode (the user's own kernel) keeps every field. App mode is detected from the environment Voila gives
its kernels (`SERVER_SOFTWARE=voila/...`) or forced with `DEEPLAB_WIDGETS_APP_MODE=1`. In app mode:
- the photo and model path fields are off unless `DEEPLAB_WIDGETS_APP_FOLDER` names a folder; then only files
  inside it open, and a refusal never says whether a path outside it exists;
- the external delegate fields are off (loading one would `dlopen` a library from the server's disk);
- uploads (photos, .tflite models, labels files) over `DEEPLAB_WIDGETS_MAX_UPLOAD_MB` (default 50) are refused
  before they are parsed (`UploadTooLargeError`); the browser refuses them before sending them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import AccessDeniedError, UploadTooLargeError

APP_MODE_ENV = "DEEPLAB_WIDGETS_APP_MODE"
APP_FOLDER_ENV = "DEEPLAB_WIDGETS_APP_FOLDER"
MAX_UPLOAD_ENV = "DEEPLAB_WIDGETS_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50.0


@dataclass(frozen=True)
class AppPolicy:
    """The fields a visitor may use: `app_mode`, the one `folder` paths may name, and the upload limit."""

    app_mode: bool = False
    folder: Path | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    @property
    def paths_allowed(self) -> bool:
        """True when the path fields are shown (notebook mode, or app mode with a folder)."""
        return not self.app_mode or self.folder is not None

    @property
    def delegate_allowed(self) -> bool:
        """True when the external delegate fields are shown (notebook mode only)."""
        return not self.app_mode

    def check_path(self, text: str) -> str:
        """The path to open for `text` typed by a visitor; raises `AccessDeniedError` outside the folder.

        The message is the same whether or not the path exists, so it reveals nothing outside the folder.

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


def current_policy() -> AppPolicy:
    """The policy for this kernel, from the environment (see the module docstring)."""
    forced = os.environ.get(APP_MODE_ENV, "").strip().lower()
    app_mode = forced in ("1", "true", "yes") or (
        forced not in ("0", "false", "no") and os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")
    )
    folder = os.environ.get(APP_FOLDER_ENV, "").strip()
    try:
        limit = float(os.environ.get(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB))
    except ValueError:
        limit = DEFAULT_MAX_UPLOAD_MB
    return AppPolicy(app_mode=app_mode, folder=Path(folder) if folder else None, max_upload_mb=limit)
