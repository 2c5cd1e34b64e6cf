"""One thread per backend waits on the mailboxes of all its parked waiters (a selector).

A parked waiting candidacy of the embedded store hands its ``Mailbox`` here with a ``deliver``
callback. The thread blocks in one ``select`` over every watched mailbox; a wake-up with rank 0
delivers at once, rank ``k`` after its head start of ``k * HANDOVER_STEP`` seconds (a lower rank
that arrives meanwhile delivers earlier), so a thousand waiters cost one thread and no polling.
Watches and unwatches from other threads are queued and applied by the thread itself (poked
through a socket pair), so the selector is only ever used by one thread. The thread ends when
nothing is watched; a watched mailbox counts as a user of its socket, so closing the mailbox
meanwhile (``Mailbox.close`` wakes its last user) delivers and then closes it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ...clock import SYSTEM_CLOCK, Clock
from ...logfields import store_log
from ...signalmask import start_quiet
from .wakeup import HANDOVER_STEP, Mailbox

log = store_log("sqlite")


@dataclass
class _Watch:
    mailbox: Mailbox
    deliver: Callable[[], None]
    due: float | None = None  # when a pending head start ends (the watcher's clock)


class MailboxWatcher:
    """The parked waiters' mailboxes of one sqlite backend (see the module docstring)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._watches: dict[Mailbox, _Watch] = {}  # applied to the selector by the thread
        self._pending: list[tuple[Mailbox, _Watch | None]] = []  # queued (un)watches
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._poke_r: socket.socket | None = None
        self._poke_w: socket.socket | None = None

    def watch(self, mailbox: Mailbox, deliver: Callable[[], None]) -> bool:
        """Call ``deliver()`` once (on the watcher's thread) when ``mailbox`` gets a wake-up
        (after its rank's head start), unless ``unwatch`` comes first. False if the mailbox is
        closed already: nothing will be delivered."""
        if not mailbox.enter():
            return False
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread is not here
                self._pid, self._thread, self._watches, self._pending = os.getpid(), None, {}, []
                self._selector = self._poke_r = self._poke_w = None
            self._pending.append((mailbox, _Watch(mailbox, deliver)))
            self._start_locked()
        self._poke()
        return True

    def unwatch(self, mailbox: Mailbox) -> None:
        """Deliver nothing more for ``mailbox``."""
        with self._lock:
            if self._thread is None:
                return
            self._pending.append((mailbox, None))
        self._poke()

    def _start_locked(self) -> None:
        if self._thread is not None:
            return
        self._selector = selectors.DefaultSelector()
        self._poke_r, self._poke_w = socket.socketpair()
        self._poke_r.setblocking(False)
        self._poke_w.setblocking(False)
        self._selector.register(self._poke_r, selectors.EVENT_READ)
        self._thread = threading.Thread(
            target=self._run,
            args=(self._selector, self._poke_r, self._poke_w),
            name="leaselect-sqlite-wakes",
            daemon=True,
        )
        start_quiet(self._thread)

    def _poke(self) -> None:
        poke = self._poke_w
        if poke is not None:
            with contextlib.suppress(OSError):  # full: a poke is pending; closed: thread gone
                poke.send(b"!")

    def _run(
        self, selector: selectors.BaseSelector, poke_r: socket.socket, poke_w: socket.socket
    ) -> None:
        watches: dict[Mailbox, _Watch] = {}
        try:
            while True:
                with self._lock:
                    pending, self._pending = self._pending, []
                    gone = [self._apply(selector, watches, m, w) for m, w in pending]
                    idle = not watches and not self._pending
                    if idle:
                        self._thread = self._selector = self._poke_r = self._poke_w = None
                for mailbox in gone:
                    if mailbox is not None:
                        mailbox.leave()
                if idle:
                    break
                timeout = self._timeout(watches)
                due: list[_Watch] = []
                for key, _ in selector.select(timeout):
                    if key.fileobj is poke_r:
                        _drain(poke_r)
                        continue
                    watch: _Watch = key.data
                    rank = watch.mailbox.take()
                    if rank is None:
                        continue
                    end = self._clock.now() + rank * HANDOVER_STEP
                    watch.due = end if watch.due is None else min(watch.due, end)
                now = self._clock.now()
                due = [w for w in watches.values() if w.due is not None and w.due <= now]
                for watch in due:
                    del watches[watch.mailbox]
                    selector.unregister(watch.mailbox.sock)
                    watch.mailbox.leave()
                    try:
                        watch.deliver()
                    except Exception:
                        log.exception("sqlite: delivering a wake-up failed")
        except Exception:  # never expected; the waiters must not be left to their time limits
            log.exception("sqlite: the wake-up watcher failed; its waiters campaign again")
        finally:
            queued: list[tuple[Mailbox, _Watch | None]] = []
            with self._lock:
                if self._thread is threading.current_thread():  # failed: the next watch starts
                    self._thread = self._selector = self._poke_r = self._poke_w = None
                    queued, self._pending = self._pending, []
            left = list(watches.values()) + [w for _, w in queued if w is not None]
            for watch in left:
                watch.mailbox.leave()
            selector.close()
            poke_r.close()
            poke_w.close()
            for watch in left:
                with contextlib.suppress(Exception):
                    watch.deliver()

    @staticmethod
    def _apply(
        selector: selectors.BaseSelector,
        watches: dict[Mailbox, _Watch],
        mailbox: Mailbox,
        watch: _Watch | None,
    ) -> Mailbox | None:
        """Apply one queued (un)watch; the mailbox whose use ended, if any."""
        old = watches.pop(mailbox, None)
        if old is not None:
            selector.unregister(mailbox.sock)
        if watch is not None:
            watches[mailbox] = watch
            selector.register(mailbox.sock, selectors.EVENT_READ, watch)
            return mailbox if old is not None else None  # a second watch: one use ends
        return mailbox if old is not None else None

    def _timeout(self, watches: dict[Mailbox, _Watch]) -> float | None:
        dues = [w.due for w in watches.values() if w.due is not None]
        return None if not dues else max(0.0, min(dues) - self._clock.now())


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while sock.recv(4096):
            pass
