"""Wake-ups between processes of one host: a datagram per waiter, no polling.

Each waiting candidacy binds a Unix datagram socket in the store's ``-wake`` directory, which has
the store's own permissions (see ``files``): a user who may not open the store can neither
bind a waiter's address (so cannot squat the address of a crashed waiter and swallow its wake-up)
nor send to a waiter (so cannot flood it). Filesystem sockets, unlike abstract ones, are reached
from every network namespace that sees the directory.

A release wakes every queued waiter with its rank in the queue: rank 0 campaigns at once, rank
``k`` after ``k * HANDOVER_STEP`` seconds, so a stopped or slow first waiter delays a hand-over by
one step, not by a lease's lifetime. A wake-up is only a hint: the waiter checks the store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import threading
import weakref

HANDOVER_STEP = 0.1  # seconds between the ranks of a hand-over
_NONE = 1 << 30  # "no wake-up" among ranks
_SUN_PATH_MAX = 107  # bytes of a socket path, without the trailing NUL


class WakeDir:
    """The directory of one store's wake-up sockets, held open so long paths still work.

    The descriptor is released by ``close`` or, for a backend nobody closed, when this object
    is garbage-collected (a dropped ``Elector`` must not keep a descriptor).
    """

    def __init__(self, path: str, socket_mode: int) -> None:
        self.path = path
        self.socket_mode = socket_mode
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._release = weakref.finalize(self, os.close, fd)
        self._release.atexit = False  # the process's exit closes it anyway
        self.identity = (st.st_dev, st.st_ino)

    def address(self, name: str) -> str:
        """A path to socket ``name`` that fits a socket address."""
        full = os.path.join(self.path, name)
        if len(os.fsencode(full)) <= _SUN_PATH_MAX or self._fd is None:
            return full
        return f"/proc/self/fd/{self._fd}/{name}"

    def close(self) -> None:
        """Release the directory descriptor (idempotent)."""
        self._fd = None
        self._release()


class Mailbox:
    """A socket a waiter blocks on until some process sends it a wake-up.

    ``close`` may be called from another thread while ``wait`` blocks: the socket is closed once
    no call uses it any more (closing a descriptor another thread blocks on is unsafe).
    """

    def __init__(self, directory: WakeDir) -> None:
        self.name = f"w-{secrets.token_hex(12)}"
        self._address = directory.address(self.name)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.bind(self._address)
            if directory.socket_mode != 0o600:  # senders need write permission on the socket
                os.chmod(self._address, directory.socket_mode)
        except BaseException:
            self._sock.close()
            raise
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False

    def wait(self, timeout: float) -> int | None:
        """Block up to ``timeout`` seconds for a wake-up; its rank, or None if none came."""
        if not self.enter():
            return None
        try:
            self._sock.settimeout(max(timeout, 0.0))
            try:
                rank = _rank(self._sock.recv(64))
            except (TimeoutError, BlockingIOError, InterruptedError):
                return None
            return min(rank, self._drain())
        finally:
            self.leave()

    @property
    def sock(self) -> socket.socket:
        """The socket (to select on; only between ``enter`` and ``leave``)."""
        return self._sock

    def take(self) -> int | None:
        """The lowest rank among the wake-ups that arrived, without blocking; None if none
        did (call between ``enter`` and ``leave``)."""
        lowest = self._drain()
        return None if lowest == _NONE else lowest

    def drain(self) -> None:
        """Forget wake-ups that arrived before now."""
        if self.enter():
            try:
                self._drain()
            finally:
                self.leave()

    def interrupt(self) -> None:
        """Wake our own ``wait`` (from another thread)."""
        send(self._address, 0)

    def close(self) -> None:
        """Stop receiving; remove the socket file."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            busy = self._users > 0
        if busy:
            self.interrupt()  # the last user closes
        else:
            self._close()

    def _drain(self) -> int:
        lowest = _NONE
        self._sock.setblocking(False)
        try:
            while True:
                lowest = min(lowest, _rank(self._sock.recv(64)))
        except (BlockingIOError, InterruptedError):
            return lowest

    def enter(self) -> bool:
        """Count a user of the socket (False once closing): ``leave`` when done."""
        with self._lock:
            if self._closing:
                return False
            self._users += 1
            return True

    def leave(self) -> None:
        """The end of an ``enter``; the last user of a closing mailbox closes it."""
        with self._lock:
            self._users -= 1
            last = self._closing and self._users == 0
        if last:
            self._close()

    def _close(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._address)


class Delivery:
    """What a ``send`` found."""

    SENT = "sent"
    GONE = "gone"  # nobody listens there: the waiter is dead
    FAILED = "failed"  # could not send for another reason (the waiter may live)


def send(address: str, rank: int) -> str:
    """Wake the waiter at ``address`` with ``rank``; a ``Delivery`` value."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(b"%d" % rank, address)
        except ConnectionRefusedError:
            _unlink_stale(address)
            return Delivery.GONE
        except FileNotFoundError:
            return Delivery.GONE
        except BlockingIOError:
            return Delivery.SENT  # its queue is full: it has wake-ups pending already
        except OSError as exc:
            return Delivery.GONE if exc.errno == errno.ENOTSOCK else Delivery.FAILED
    return Delivery.SENT


def _unlink_stale(address: str) -> None:
    """Remove the socket file of a waiter that died without removing it."""
    with contextlib.suppress(OSError):
        os.unlink(address)


def _rank(datagram: bytes) -> int:
    try:
        return max(0, int(datagram[:8]))
    except ValueError:
        return 0
