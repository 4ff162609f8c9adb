"""The status line every widget shares: one look for information and one for errors (HTML-escaped)."""

from __future__ import annotations

import html

from ..errors import DeeplabWidgetsError


def error_text(exc: BaseException) -> str:
    """The one-line status message for a failure: `Type: message`, marked "unexpected" for an error that is not

    one of the project's own (those name the fix; anything else is a bug, but still never a traceback).

    Args:
        exc: The exception.
    """
    prefix = "" if isinstance(exc, DeeplabWidgetsError) else "unexpected "
    return f"{prefix}{type(exc).__name__}: {exc}"


def error_html(message: str) -> str:
    """A status-line message for an error.

    Args:
        message: The error's text.
    """
    return f'<span style="color:#b00020">&#9888; {html.escape(message)}</span>'


def info_html(message: str) -> str:
    """A status-line message for information.

    Args:
        message: The text.
    """
    return f'<span style="color:#555">{html.escape(message)}</span>'
