"""V1KernelWebsocketConnection: kernel websockets for the app speak only Jupyter's v1 protocol.

Voila 0.5 (0.5.13 here, with jupyter_server 2.x) filters what the server sends a page with
`VoilaKernelWebsocketHandler.write_message`, which reads every binary message as v1 framing (8-byte little-endian
offset count, then the offsets). A client that does not ask for the `v1.kernel.websocket.jupyter.org`
subprotocol gets Jupyter's legacy protocol, whose binary messages (any message with buffers, e.g. an
`ipywidgets.Image`'s state) start with a 4-byte big-endian buffer count: read as the offset count, that is about
5.8e17, and the list comprehension over it holds the server's event loop at full CPU with growing memory until
the process dies. No Voila, jupyter_server or ipywidgets setting avoids it (`kernel_ws_protocol` only picks v1
when the client offers it). Voila's own page always asks for v1, so this connection refuses any other client
at the handshake (400), before the kernel is touched. `make app` selects it with
`--Voila.kernel_websocket_connection_class=deeplab_widgets.app.V1KernelWebsocketConnection`.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado import web

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"


class V1KernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """Jupyter Server's kernel websocket connection, for clients that ask for the v1 protocol only."""

    async def prepare(self) -> None:
        """Refuse (400) a websocket request that does not offer the v1 protocol, then prepare as usual."""
        offered = self.websocket_handler.request.headers.get("Sec-WebSocket-Protocol", "")
        if V1_PROTOCOL not in (p.strip() for p in offered.split(",")):
            self.log.warning("Refused a kernel websocket without the %s subprotocol", V1_PROTOCOL)
            self.websocket_handler.set_status(400)
            self.websocket_handler.set_header("Content-Type", "text/plain; charset=UTF-8")
            raise web.Finish(f"this server speaks only the {V1_PROTOCOL} kernel protocol\n")
        await super().prepare()
