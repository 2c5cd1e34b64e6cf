"""The testbed's one error."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A server could not be installed, started, stopped or reached."""
