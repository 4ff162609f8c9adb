"""AppKernelManager: Voila's kernel manager for the app, with a cap on visitors and kernels that end with their page.

`make app` selects it with `--VoilaConfiguration.multi_kernel_manager_class=deeplab_widgets.app.AppKernelManager`.
Each page Voila serves starts one kernel; on top of Voila's own kernel manager this one

- caps the kernels at `max_visitors` (`DEEPLAB_WIDGETS_MAX_VISITORS`; by default as many as fit in 80% of the
  memory available when the server starts, `MEMORY_PER_VISITOR_MB` each). A page asked for over the cap gets a
  "503 The workbench is full" page that tries again by itself a minute later, at once and without a kernel;
- lets a closing page shut its kernel down. Voila 0.5's page sends `POST voila/api/shutdown/<kernel id>` on
  `beforeunload` with the value of the `_xsrf` cookie, but Voila never sets that cookie, so the server refuses
  the request (403 "'_xsrf' argument missing from POST") and the kernel lives on until the idle cull. Starting a
  page's kernel here sets the cookie on that page's response (tornado's `xsrf_token`), so the request passes
  the server's ordinary XSRF check.

Requests without a browser (curl, a link preview) render the page too, so they start a kernel: it counts against
the cap, and the idle cull ends it like any kernel without a page (`VOILA_APP_FLAGS`: after 180 s idle). The cull
cannot tell them from pages whose browser has not connected yet: with ten pages opened at once in a Chromium on
the server's own two cores, pages connected 23 to 57 s after their kernel went idle.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import psutil
from jupyter_server.base.call_context import CallContext
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Int, default

from ..errors import OptionsError

MAX_VISITORS_ENV = "DEEPLAB_WIDGETS_MAX_VISITORS"
#: Memory one visitor may take, in MB: their kernel with every tab opened and a benchmark running (about 390 MB
#: USS with its benchmark process, `benchmarks/app_capacity.py`, benchmarks/RESULTS.md) and an upload at the
#: 50 MB limit.
MEMORY_PER_VISITOR_MB = 500
#: The share of the memory available at start that visitors' kernels may take (the rest: the server, the system).
MEMORY_SHARE = 0.8
#: Seconds after which the "full" page asks again.
RETRY_SECONDS = 60

FULL_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{retry}">
<title>The workbench is full</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 4em auto; line-height: 1.5">
<h1>The workbench is full</h1>
<p>All {cap} places are taken right now. Try again in a minute: this page reloads by itself in {retry} seconds.</p>
</body></html>
"""


def default_max_visitors(available: int | None = None) -> int:
    """The visitor cap: `DEEPLAB_WIDGETS_MAX_VISITORS` if set, else what fits in `MEMORY_SHARE` of `available`
    bytes (default: the memory available now) at `MEMORY_PER_VISITOR_MB` each, at least 1.

    Raises:
        OptionsError: The variable is not a whole number of at least 1.
    """
    text = os.environ.get(MAX_VISITORS_ENV, "").strip()
    if text:
        try:
            cap = int(text)
        except ValueError:
            cap = 0
        if cap < 1:
            raise OptionsError(f"{MAX_VISITORS_ENV} must be a whole number of visitors, at least 1, not {text!r}")
        return cap
    if available is None:
        available = psutil.virtual_memory().available
    return max(1, int(available * MEMORY_SHARE / (MEMORY_PER_VISITOR_MB * 1e6)))


class AppKernelManager(AsyncMappingKernelManager):
    """Jupyter Server's kernel manager with a visitor cap and the XSRF cookie a page's shutdown request needs (see
    the module docstring)."""

    max_visitors = Int(
        config=True, help=f"Kernels (visitors) at once; default: {MAX_VISITORS_ENV}, else sized to the memory."
    )

    @default("max_visitors")
    def _default_max_visitors(self) -> int:
        return default_max_visitors()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._starting: set[str] = set()  # kernels being started, not yet listed
        self.log.info("App mode: at most %d visitors at once (%s)", self.max_visitors, MAX_VISITORS_ENV)

    @property
    def visitors(self) -> int:
        """Kernels running or being started."""
        return len(set(self.list_kernel_ids()) | self._starting)

    async def start_kernel(self, *, kernel_id: str | None = None, **kwargs: Any) -> str:  # type: ignore[override]
        """Start a page's kernel, or answer the page with "The workbench is full" (503) over the cap."""
        handler = CallContext.get(CallContext.JUPYTER_HANDLER)
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)
        if self.visitors >= self.max_visitors:
            self.log.warning("The workbench is full (%d visitors): a page was turned away", self.max_visitors)
            self._turn_away(handler)
        if handler is not None:
            handler.xsrf_token  # noqa: B018 (sets the `_xsrf` cookie the page's shutdown request sends back)
        kernel_id = kernel_id or str(uuid.uuid4())
        self._starting.add(kernel_id)
        try:
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)
        finally:
            self._starting.discard(kernel_id)

    def _turn_away(self, handler: web.RequestHandler | None) -> None:
        """End the request with the "full" page (a plain 503 error when no page asked)."""
        if handler is None:
            raise web.HTTPError(503, "the workbench is full: %d visitors", self.max_visitors)
        handler.set_status(503)
        handler.set_header("Retry-After", str(RETRY_SECONDS))
        handler.set_header("Content-Type", "text/html; charset=UTF-8")
        raise web.Finish(FULL_PAGE.format(cap=self.max_visitors, retry=RETRY_SECONDS))
