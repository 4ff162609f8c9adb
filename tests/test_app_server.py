"""The app as `make app` serves it, attacked and crowded: a visitor's own websocket client on the page's kernel, a
legacy-protocol client, pages closed in Chromium, and visitors over the cap.

The websocket client speaks Jupyter Server's `v1.kernel.websocket.jupyter.org` protocol (binary frames: offsets,
channel, header, parent header, metadata, content, buffers) with Jupyter Server's own (de)serializers, and sends
what ipywidgets' front end sends: `request_state`, `update` with a new state, `custom` {"event": "click"}.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import pytest

from deeplab_widgets.app import MAX_VISITORS_ENV, default_max_visitors
from deeplab_widgets.app.kernel_manager import MEMORY_PER_VISITOR_MB
from deeplab_widgets.errors import OptionsError
from deeplab_widgets.widgets.app_policy import NO_DELEGATES
from tests.browser_server import chromium, kernels, serve_app
from tests.marker_library import build_marker_library

PROTOCOL = "v1.kernel.websocket.jupyter.org"
#: A page's render starts a kernel and segments the first photo; on a busy 2-core machine that takes a while.
RENDER_SECONDS = 180
MISSING = "/etc/no-such-file-here"
#: Words a refusal must never contain: they would tell a visitor whether a server file exists.
REVEALING = ("No such file", "not found", "too short", "cannot read", "not a TFLite", "Errno", "exist")
VIEWER = ".dlw-workbench .dlw-main-viewer"


def open_page(url: str) -> tuple[str, str]:
    """Request the app page without a browser, as `curl` would (the page renders in full: its kernel runs the
    notebook); returns (kernel id, the cookies the server set, as a Cookie header)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(url, timeout=RENDER_SECONDS) as response:
        page = response.read().decode()
    found = re.search(r'"kernelId": "([0-9a-f-]{36})"', page)
    assert found, page[-2000:]
    return found.group(1), "; ".join(f"{c.name}={c.value}" for c in jar)


class KernelChannel:
    """A visitor's own client on a page's kernel websocket: the state of every widget, and the updates the kernel
    sends (`updates`: (comm id, state) in order)."""

    def __init__(self, url: str, kernel_id: str, cookie: str) -> None:
        import websocket

        ws_url = url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels?session_id={uuid.uuid4()}"
        self.ws = websocket.create_connection(ws_url, subprotocols=[PROTOCOL], cookie=cookie, timeout=RENDER_SECONDS)
        self.session = uuid.uuid4().hex
        self.states: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[str, dict[str, Any]]] = []

    def close(self) -> None:
        self.ws.close()

    def send(self, msg_type: str, content: dict[str, Any]) -> str:
        """Send a shell message; returns its id."""
        from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "session": self.session,
            "username": "visitor",
            "date": datetime.now(timezone.utc).isoformat(),
            "version": "5.3",
        }
        parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
        self.ws.send_binary(serialize_msg_to_ws_v1(parts, "shell"))
        return msg_id

    def request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        """Send a shell message and read until the kernel is idle again; returns its reply's content (or {})."""
        msg_id = self.send(msg_type, content)
        reply: dict[str, Any] = {}
        idle, needs_reply = False, msg_type != "comm_msg"  # a comm message has no reply, only busy then idle
        while not idle or (needs_reply and not reply):
            channel, head, parent, body = self._receive()
            if parent.get("msg_id") != msg_id:
                continue
            if channel == "shell":
                reply = body or {"status": "ok"}
            elif head["msg_type"] == "status" and body["execution_state"] == "idle":
                idle = True
        return reply

    def _receive(self) -> tuple[str, dict, dict, dict]:
        from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

        channel, parts = deserialize_msg_from_ws_v1(self.ws.recv())
        head, parent, _, body = (json.loads(p) for p in parts[:4])
        if channel == "iopub" and head["msg_type"] in ("comm_open", "comm_msg"):
            data = body.get("data", {})
            state = data.get("state", {})
            if head["msg_type"] == "comm_open" or data.get("method") in ("update", "echo_update"):
                self.states.setdefault(body["comm_id"], {}).update(state)
                self.updates.append((body["comm_id"], state))
        return channel, head, parent, body

    def comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a widget message as ipywidgets' front end does, and wait until the kernel has handled it."""
        self.request("comm_msg", {"comm_id": comm_id, "data": data})

    def discover(self) -> None:
        """Learn every widget of the kernel and its state (`comm_info_request`, then `request_state` each)."""
        comms = self.request("comm_info_request", {"target_name": "jupyter.widget"})["comms"]
        for comm_id in comms:
            self.comm(comm_id, {"method": "request_state"})

    def widgets(self, model: str) -> list[str]:
        """The comm ids of the widgets whose model is `model` (e.g. "TextModel")."""
        return [c for c, s in self.states.items() if s.get("_model_name") == model]

    def set(self, comm_id: str, **state: Any) -> None:
        self.comm(comm_id, {"method": "update", "state": state, "buffer_paths": []})

    def click(self, comm_id: str) -> None:
        self.comm(comm_id, {"method": "custom", "content": {"event": "click"}})

    def messages(self, since: int) -> list[str]:
        """The text of every status-line (HTML widget) update since update number `since`."""
        html_widgets = set(self.widgets("HTMLModel"))
        return [
            html.unescape(re.sub(r"<[^>]+>", "", state["value"])).strip()
            for comm_id, state in self.updates[since:]
            if comm_id in html_widgets and isinstance(state.get("value"), str)
        ]


@contextmanager
def kernel_channel(url: str) -> Iterator[KernelChannel]:
    kernel_id, cookie = open_page(url)
    channel = KernelChannel(url, kernel_id, cookie)
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(URL, server process) of the app served as `make app` serves it."""
    with serve_app(tmp_path_factory.mktemp("app")) as served:
        yield served


@pytest.mark.slow  # serves the app (Voila) and drives every widget of a page
def test_a_visitors_websocket_client_cannot_make_the_kernel_load_or_reveal_server_files(app, tmp_path):
    library, marker = build_marker_library(tmp_path)
    values = (str(library), "/etc/hostname", MISSING)
    url, _ = app
    with kernel_channel(url) as channel:
        channel.discover()
        for tab in channel.widgets("TabModel"):  # open every tab: Compare, Benchmark and Video build their parts
            for index in range(len(channel.states[tab]["children"])):
                channel.set(tab, selected_index=index)
        channel.discover()
        texts = channel.widgets("TextModel")
        buttons = [b for b in channel.widgets("ButtonModel") if channel.states[b].get("description") != "Stop"]
        descriptions = {channel.states[t].get("description") for t in texts}
        assert len(texts) >= 8 and {"Delegate", "delegate"} <= descriptions  # Segment, Compare and Benchmark
        assert {"Run", "Open", "time 10 runs", "cat"} <= {channel.states[b]["description"] for b in buttons}

        quantize = next(c for c, s in channel.states.items() if "dlw-quantize-run" in s.get("_dom_classes", ()))
        refusals = []
        # Two first rounds bring every tab to the state the compared rounds start in: the Quantize tab quantizes in
        # the background, so its "Use this model" chooses the quantized file one round after its Run.
        for value in (MISSING, MISSING, *values):
            for status in channel.widgets("HTMLModel"):  # so that a message repeated from the last round is sent
                channel.set(status, value="")
            start = len(channel.updates)
            for text in texts:
                channel.set(text, disabled=False, value=value)
            for button in buttons:
                channel.click(button)
            deadline = time.monotonic() + 120
            while channel.states[quantize].get("disabled") and time.monotonic() < deadline:  # its run has not ended
                time.sleep(0.5)
                channel.request("kernel_info_request", {})  # reads the updates sent meanwhile
            said = channel.messages(start)
            refusals.append(sorted({m.replace(value, "PATH") for m in said if value in m or "\u26a0" in m}))
        # Code of the visitor's own: Voila forwards no execute_request to the kernel.
        ran = tmp_path / "visitor-code-ran"
        channel.send("execute_request", {"code": f"open({str(ran)!r}, 'w').write('ran')", "silent": False})
        channel.request("kernel_info_request", {})
        # Had the Benchmark tab started its background process, let it load what it was given before looking.
        bench = next(c for c, s in channel.states.items() if "dlw-bench-status" in s.get("_dom_classes", ()))
        deadline = time.monotonic() + 60
        while re.search("running|starting", channel.states[bench]["value"]) and time.monotonic() < deadline:
            time.sleep(1)
            channel.request("kernel_info_request", {})  # reads the updates sent meanwhile

    assert not marker.exists(), "the marker library was loaded"
    assert not ran.exists(), "the visitor's code ran"
    assert "running" not in channel.states[bench]["value"]
    refusals = refusals[2:]
    assert refusals[0] == refusals[1] == refusals[2], "\n\n".join("\n".join(r) for r in refusals)
    said = "\n".join(refusals[0])
    assert NO_DELEGATES in said and "PATH: this app opens uploads only; paths on the server are switched off" in said
    assert not any(word in said for word in REVEALING), said


@pytest.mark.slow  # serves the app (Voila) and drives every widget of a page
def test_a_websocket_client_without_the_v1_protocol_is_refused_before_it_can_stall_the_server(app):
    # Voila 0.5 reads every binary message as v1 framing: a legacy client asking for an Image widget's state (the
    # sample thumbnails are Images) would hold the server's event loop at full CPU (deeplab_widgets.app.websocket).
    import websocket

    url, _ = app
    kernel_id, cookie = open_page(url)
    ws_url = url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels?session_id={uuid.uuid4()}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url, cookie=cookie, timeout=30)
    assert refused.value.status_code == 400
    channel = KernelChannel(url, kernel_id, cookie)  # the page's own protocol: every widget's state, buffers too
    try:
        channel.discover()
        assert len(channel.widgets("ImageModel")) >= 6
    finally:
        channel.close()
    started = time.monotonic()
    urllib.request.urlopen(url + "voila/static/voila.js", timeout=30).close()
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def wait_for_kernels(server, at_most: int, seconds: float) -> int:
    """Poll until the server runs at most `at_most` kernels or `seconds` have passed; returns the count."""
    deadline = time.monotonic() + seconds
    while (count := kernels(server)) > at_most and time.monotonic() < deadline:
        time.sleep(0.5)
    return count


@pytest.mark.browser
def test_closing_pages_shuts_their_kernels_down_within_seconds_with_the_idle_cull_off(browser, tmp_path):
    # Ten visitors in turn open the app in a tab of one browser and close the tab. The idle cull is off, so only
    # the page's own shutdown request (on `beforeunload`) can free the kernels.
    with serve_app(tmp_path, "--MappingKernelManager.cull_idle_timeout=0") as (url, server):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            for _ in range(10):
                page = context.new_page()
                page.goto(url, timeout=RENDER_SECONDS * 1000)
                page.wait_for_selector(".dlw-workbench", timeout=RENDER_SECONDS * 1000)
                page.close(run_before_unload=True)
            assert wait_for_kernels(server, 2, 10) <= 2
        finally:
            context.close()
        log = (tmp_path / "voila.log").read_text()
        assert "'_xsrf' argument missing" not in log and "Culling" not in log


@pytest.mark.browser
def test_over_the_cap_a_visitor_gets_the_full_page_and_a_closed_page_frees_its_place(browser, tmp_path):
    with serve_app(tmp_path, env={MAX_VISITORS_ENV: "1"}) as (url, server):
        # A request without a browser (curl) renders the page, so its kernel takes the one place.
        kernel_id, cookie = open_page(url)
        assert kernels(server) == 1
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "60"
        assert "The workbench is full" in refused.value.read().decode()
        assert time.monotonic() - started < 10  # at once: no kernel, no render
        # The request a page sends on `beforeunload`, with the `_xsrf` cookie the page's response set.
        xsrf = re.search(r"_xsrf=([^;]+)", cookie)
        assert xsrf, cookie
        shutdown = urllib.request.Request(
            f"{url}voila/api/shutdown/{kernel_id}",
            data=urllib.parse.urlencode({"_xsrf": xsrf.group(1)}).encode(),
            headers={"Cookie": cookie},
        )
        with urllib.request.urlopen(shutdown, timeout=30) as response:
            assert response.status == 204
        assert wait_for_kernels(server, 0, 10) == 0

        first, second = (browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2))
        try:
            page = first.new_page()
            page.goto(url, timeout=RENDER_SECONDS * 1000)
            page.wait_for_selector(f"{VIEWER}[data-revision]", timeout=RENDER_SECONDS * 1000)
            late = second.new_page()
            response = late.goto(url, timeout=60_000)
            assert response is not None and response.status == 503
            assert late.inner_text("h1") == "The workbench is full"
            assert "Try again in a minute" in late.inner_text("body")

            page.close(run_before_unload=True)  # the first visitor leaves: the place is free again at once
            assert wait_for_kernels(server, 0, 10) == 0
            late.reload(timeout=RENDER_SECONDS * 1000)
            late.wait_for_selector(f"{VIEWER}[data-revision]", timeout=RENDER_SECONDS * 1000)
        finally:
            first.close()
            second.close()


def test_the_visitor_cap_comes_from_the_environment_or_the_memory(monkeypatch):
    monkeypatch.setenv(MAX_VISITORS_ENV, "30")
    assert default_max_visitors() == 30
    monkeypatch.delenv(MAX_VISITORS_ENV)
    assert default_max_visitors(available=10 * MEMORY_PER_VISITOR_MB * 10**6) == 8  # 80% of the memory
    assert default_max_visitors(available=10**6) == 1
    for bad in ("0", "many"):
        monkeypatch.setenv(MAX_VISITORS_ENV, bad)
        with pytest.raises(OptionsError, match=f"{MAX_VISITORS_ENV} must be a whole number of visitors"):
            default_max_visitors()
