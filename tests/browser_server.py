"""Serving a notebook on a local port and the Chromium that drives it: one implementation for the browser tests,
`benchmarks/viewer_latency.py` and `docs/screenshot_workbench.py`.

Debian's Chromium is used (`playwright install` cannot download a browser here; `.ci/run` installs the package).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Seconds a server may take to accept connections.
START_SECONDS = 60


class ServerStartError(RuntimeError):
    """The server exited or did not accept connections in time; the message holds its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    """A console script of this environment (voila, jupyter)."""
    return str(Path(sys.executable).with_name(name))


@contextmanager
def serve(
    command: list[str], port: int, log: Path, cwd: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run `command` (a server on `port`, output to `log`) for the `with` block, once its port accepts connections.

    Raises `ServerStartError` with the log when it exits or does not listen within `START_SECONDS`.
    """
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerStartError(f"{command[0]} did not start:\n{log.read_text()}") from None
                time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
