"""Serving the Workbench to visitors: the Voila kernel manager (`AppKernelManager`) and kernel websocket connection
(`V1KernelWebsocketConnection`) `make app` uses.

What a visitor may do inside their kernel is decided there, by `deeplab_widgets.widgets.app_policy`; this package
decides how many kernels the server runs and when they end. It runs in the server process, not in kernels.
"""

from .kernel_manager import MAX_VISITORS_ENV, AppKernelManager, default_max_visitors
from .websocket import V1KernelWebsocketConnection

__all__ = ["MAX_VISITORS_ENV", "AppKernelManager", "V1KernelWebsocketConnection", "default_max_visitors"]
