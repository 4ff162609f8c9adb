"""The status line every widget shares: one look for information and one for errors (HTML-escaped)."""

from __future__ import annotations

import html


def error_html(message: str) -> str:
    """A status-line message for an error."""
    return f'<span style="color:#b00020">&#9888; {html.escape(message)}</span>'


def info_html(message: str) -> str:
    """A status-line message for information."""
    return f'<span style="color:#555">{html.escape(message)}</span>'
