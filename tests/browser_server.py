"""Serving a notebook on a local port and the Chromium that drives it: one implementation for the browser tests,
`benchmarks/viewer_latency.py` and `docs/screenshot_workbench.py`.

Debian's Chromium is used (`playwright install` cannot download a browser here; `.ci/run` installs the package).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

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


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium, launched through Playwright for the `with` block (a Playwright `Browser`).

    Raises `FileNotFoundError` when it is not installed.
    """
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            "Chromium not found: install Debian's package (`apt-get install chromium`); .ci/run does"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(
    browser: Any, width: int = 1280, height: int = 900, screenshot: Path | None = None
) -> Iterator[tuple[Any, list[str]]]:
    """A new page of `browser` for the `with` block and the script errors it raises (a list that fills as they
    come). On leaving, the page is saved to `screenshot` (if given) and closed, which shuts its Voila kernel down.
    """
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, errors
    finally:
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        page.close(run_before_unload=True)


def app_flags() -> list[str]:
    """The Voila options `make app` uses (read from the Makefile, so the tests serve the app the same way)."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("VOILA_APP_FLAGS :="):
            return line.split(":=", 1)[1].split()
    raise AssertionError("VOILA_APP_FLAGS not found in the Makefile")


@contextmanager
def serve_app(
    folder: Path, *flags: str, env: dict[str, str] | None = None, notebook: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve the Workbench (or `notebook`) as `make app` does, `flags` (`--Class.name=value`) replacing the app's own.

    Yields (URL, server process); the server's log is `folder/voila.log`.
    """
    port = free_port()
    notebook = notebook or ROOT / "notebooks" / "00_workbench.ipynb"
    options = dict(flag.split("=", 1) for flag in [*app_flags(), *flags])  # traitlets refuses a flag given twice
    command = [tool("voila"), str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    command += [f"{name}={value}" for name, value in options.items()]
    with serve(command, port, folder / "voila.log", notebook.parent, env) as server:
        yield f"http://127.0.0.1:{port}/", server


def kernels(server: subprocess.Popen) -> int:
    """Kernel processes the server runs now."""
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    count = 0
    for child in children:
        with contextlib.suppress(psutil.Error):
            count += "ipykernel_launcher" in " ".join(child.cmdline())
    return count
