"""Wake-ups between processes of one host: a datagram per waiter, no polling.

Each waiting candidacy binds a Linux abstract-namespace datagram socket (no file to clean up; it
vanishes with the process). A releaser sends one datagram to the first waiter in the queue; a
dead waiter is detected at once (``ECONNREFUSED``) and skipped.
"""

from __future__ import annotations

import secrets
import socket


class Mailbox:
    """A socket a waiter blocks on until some process sends it a wake-up."""

    def __init__(self) -> None:
        self.address = f"leaselect-{secrets.token_hex(12)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(_abstract(self.address))

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a wake-up; True if one came."""
        self._sock.settimeout(max(timeout, 0.0) or 0.0)
        try:
            self._sock.recv(64)
        except (TimeoutError, BlockingIOError, InterruptedError):
            return False
        return True

    def drain(self) -> None:
        """Forget wake-ups that arrived before now."""
        self._sock.setblocking(False)
        try:
            while True:
                self._sock.recv(64)
        except (BlockingIOError, InterruptedError):
            pass

    def interrupt(self) -> None:
        """Wake our own ``wait`` (from another thread)."""
        send(self.address)

    def close(self) -> None:
        """Stop receiving."""
        self._sock.close()


def send(address: str) -> bool:
    """Wake the waiter at ``address``; False if no process listens there any more."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(b"w", _abstract(address))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except BlockingIOError:
            return True  # its queue is full: it has wake-ups pending already
    return True


def _abstract(address: str) -> bytes:
    return b"\0" + address.encode("ascii")
