"""Text shown on a terminal: what others wrote may hold control characters; escape them."""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` on one line, every non-printable character shown escaped (``\\x1b``, ``\\n``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
