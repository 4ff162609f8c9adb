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
  the server's ordinary XSRF check;
- shuts down a kernel no page ever connected to (a request without a browser: curl, a link preview, a crawler)
  once it has been idle `unconnected_timeout` seconds (default 20), instead of after the idle cull's minute.
  It runs with the idle cull (`--MappingKernelManager.cull_idle_timeout` > 0), on its `cull_interval`.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psutil
from jupyter_server.base.call_context import CallContext
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Float, Int, default

from ..errors import OptionsError

MAX_VISITORS_ENV = "DEEPLAB_WIDGETS_MAX_VISITORS"
#: Memory one visitor's kernel may take, in MB: the Workbench's kernel after its first result, a run of every
#: tab and an upload at the 50 MB limit (measured by `benchmarks/app_capacity.py`, see benchmarks/RESULTS.md).
MEMORY_PER_VISITOR_MB = 400
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
    """Jupyter Server's kernel manager with a visitor cap, the XSRF cookie a page's shutdown needs, and a short
    life for kernels no page connects to (see the module docstring)."""

    max_visitors = Int(
        config=True, help=f"Kernels (visitors) at once; default: {MAX_VISITORS_ENV}, else sized to the memory."
    )
    unconnected_timeout = Float(
        20.0,
        config=True,
        help="Seconds a kernel no page has connected to may stay idle (0: no limit beyond the idle cull).",
    )

    @default("max_visitors")
    def _default_max_visitors(self) -> int:
        return default_max_visitors()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._starting: set[str] = set()  # kernels being started, not yet listed
        self._connected: set[str] = set()  # kernels a page has connected to
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

    def notify_connect(self, kernel_id: str) -> None:
        """A page's websocket connected to `kernel_id`."""
        super().notify_connect(kernel_id)
        self._connected.add(kernel_id)

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Shut `kernel_id` down (and forget it was connected)."""
        self._connected.discard(kernel_id)
        await super().shutdown_kernel(kernel_id, *args, **kwargs)

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """The idle cull, and before it the end of kernels no page connected to (`unconnected_timeout`)."""
        kernel = self.get_kernel(kernel_id)
        last: datetime | None = getattr(kernel, "last_activity", None)
        if (
            self.unconnected_timeout > 0
            and kernel_id not in self._connected
            and last is not None
            and getattr(kernel, "execution_state", None) == "idle"
            and datetime.now(timezone.utc) - last > timedelta(seconds=self.unconnected_timeout)
        ):
            self.log.warning(
                "Shutting down kernel %s: no page connected to it in %g s", kernel_id, self.unconnected_timeout
            )
            await self.shutdown_kernel(kernel_id)
            return
        await super().cull_kernel_if_idle(kernel_id)
