"""One watch stream per backend tells every parked waiter of the deletes it waits for.

A waiting candidacy waits for its predecessor's key to go (and, when the predecessor leads, for
its own key not to go first: docs/etcd.md, "Handover without a read"). Instead of a stream and a
thread each, the waiters of a backend register a ``DeleteInterest`` here: one thread keeps one
watch open on the backend's whole prefix (DELETE events only, ``hasleader`` required as in
``watch``) and hands each event to the interests in its keys.

No delete is missed. A stream opened at revision ``S`` replays every delete from ``S`` on, in
revision order, with the events of one revision in one response. An interest covers deletes
from its ``watch_from`` (the revision after the listing that found its predecessor): one
registered while the stream runs is first checked against the deletes already seen (kept
``KEEP_DELETES`` seconds); one older than what the stream and that memory cover (the stream
opened after its listing, or the memory was pruned) is answered "campaign again" at once, which
costs that waiter one read. A stream that ends (a read timeout, a broken connection, a request
of the backend failing over from the stream's member: a frozen member keeps the stream open and
silent) is opened again from the revision after the last delete it delivered, on the member
requests use now, so the interests stay; if that
fails, or etcd cancels the watch (no leader, a compacted revision), every interest is answered
"campaign again" and the campaigns fail over as any request does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from ...logfields import store_log
from ...signalmask import start_quiet
from .transport import CONNECT_TIMEOUT, Transport, b64, prefix_end
from .watch import REQUIRE_LEADER, WatchCancelled, deletes_in, shutdown_stream, watch_results

log = store_log("etcd")

READ_TIMEOUT = 10.0  # a stream silent this long is opened again from where it was
KEEP_DELETES = 30.0  # seconds a delete is remembered for interests registered after it
RETRY = 0.5  # seconds before a stream that could not be opened is tried again


@dataclass(eq=False)
class DeleteInterest:
    """One parked waiter: ``deliver(revision)`` once, on the feed's thread (or the caller's
    of ``watch``): the revision of ``key``'s delete if ``own`` (when given) did not go before
    or with it, else None ("campaign again": own key gone, or the feed cannot tell)."""

    key: str
    own: str
    watch_from: int
    deliver: Callable[[int | None], None] = field(repr=False)


class DeleteFeed:
    """The deletes under one backend's prefix, for its parked waiters (module docstring)."""

    def __init__(self, transport: Transport, prefix: str) -> None:
        self._transport = transport
        self._clock = transport.clock
        self._prefix = prefix.rstrip("/") + "/"
        self._lock = threading.Condition()
        self._by_key: dict[str, set[DeleteInterest]] = {}
        self._interests: set[DeleteInterest] = set()
        self._deletes: dict[str, tuple[int, float]] = {}  # key -> (revision, seen at)
        self._covers_from: int | None = None  # the open stream (or its memory) covers this on
        self._delivered_to = 0  # the revision of the last delete the stream delivered
        self._response: requests.Response | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        transport.on_move(self._endpoint_moved)

    def watch(self, interest: DeleteInterest) -> None:
        """Deliver to ``interest`` once (see ``DeleteInterest``), unless ``unwatch`` first."""
        with self._lock:
            answer = self._answer_locked(interest)
            if answer is _PENDING:
                self._add_locked(interest)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="leaselect-etcd-deletes", daemon=True
                    )
                    start_quiet(self._thread)
                self._lock.notify_all()
                return
        interest.deliver(answer if isinstance(answer, int) else None)

    def unwatch(self, interest: DeleteInterest) -> None:
        with self._lock:
            self._remove_locked(interest)

    def close(self) -> None:
        """End the stream and the thread; the interests left are answered None."""
        with self._lock:
            self._closed = True
            response = self._response
            self._lock.notify_all()
        if response is not None:
            shutdown_stream(response)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CONNECT_TIMEOUT + 1)

    def _endpoint_moved(self) -> None:
        """A request failed over from the member the stream may be open on: a frozen member
        keeps the stream open and silent, so open it again (from after the last delete it
        delivered) on the member requests use now."""
        with self._lock:
            response = self._response
        if response is not None:
            shutdown_stream(response)

    # -- under the lock ---------------------------------------------------------------------

    def _answer_locked(self, interest: DeleteInterest) -> int | object | None:
        """What to deliver now, or ``_PENDING`` (wait for the stream's events)."""
        if self._closed:
            return None
        if self._covers_from is None:
            return _PENDING  # the next stream opens at the oldest pending watch_from
        if interest.watch_from < self._covers_from:
            return None  # deletes before the stream (or its memory) are unknown
        seen: list[tuple[str, int]] = []
        for key in (interest.key, interest.own):
            revision = self._deletes.get(key, (0, 0.0))[0] if key else 0
            if revision and revision >= interest.watch_from:
                seen.append((key, revision))
        return _outcome(interest, seen) if seen else _PENDING

    def _add_locked(self, interest: DeleteInterest) -> None:
        self._interests.add(interest)
        for key in (interest.key, interest.own):
            if key:
                self._by_key.setdefault(key, set()).add(interest)

    def _remove_locked(self, interest: DeleteInterest) -> bool:
        if interest not in self._interests:
            return False
        self._interests.discard(interest)
        for key in (interest.key, interest.own):
            watchers = self._by_key.get(key)
            if watchers is not None:
                watchers.discard(interest)
                if not watchers:
                    del self._by_key[key]
        return True

    def _take_all_locked(self) -> list[DeleteInterest]:
        taken = list(self._interests)
        self._interests.clear()
        self._by_key.clear()
        return taken

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        resume_from: int | None = None  # reopen here, the interests kept (None: start anew)
        while True:
            with self._lock:
                while not self._closed and not self._interests:
                    self._covers_from, resume_from = None, None
                    self._deletes.clear()
                    self._lock.wait()
                if self._closed:
                    break
                start = resume_from
                if start is None:
                    start = min(i.watch_from for i in self._interests)
            response = self._open(start)
            if response is None:
                with self._lock:
                    self._covers_from = None
                self._answer_all(None)
                resume_from = None
                self._pause()
                continue
            opened = self._clock.now()
            early: list[DeleteInterest] = []
            with self._lock:
                self._response = response
                if resume_from is None:  # a new stream: it covers deletes from ``start`` on
                    self._covers_from, self._delivered_to = start, start - 1
                    self._deletes.clear()
                    early = [i for i in self._interests if i.watch_from < start]
                    for interest in early:
                        self._remove_locked(interest)
                closed = self._closed
            for interest in early:
                interest.deliver(None)
            try:
                if closed:
                    break
                ended_cleanly = self._read(response)
            finally:
                with self._lock:
                    self._response = None
                response.close()
            with self._lock:
                resume_from = self._delivered_to + 1 if ended_cleanly else None
                if not ended_cleanly:
                    self._covers_from = None
            if not ended_cleanly:
                self._answer_all(None)
            elif self._clock.now() - opened < RETRY:
                self._pause()  # a stream that ends at once is not reopened in a tight loop
        self._answer_all(None)

    def _pause(self) -> None:
        """Wait ``RETRY`` seconds before the next open, unless closed meanwhile."""
        with self._lock:
            if not self._closed:
                self._lock.wait(RETRY)

    def _open(self, start: int) -> requests.Response | None:
        create = {
            "key": b64(self._prefix),
            "range_end": b64(prefix_end(self._prefix)),
            "start_revision": str(start),
            "filters": ["NOPUT"],
        }
        try:
            return self._transport.session.post(
                self._transport.client.get_url("watch"),
                json={"create_request": create},
                stream=True,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                headers=REQUIRE_LEADER,
            )
        except requests.RequestException as exc:
            log.debug("etcd: the waiters' watch stream cannot be opened: %s", exc)
            return None

    def _read(self, response: requests.Response) -> bool:
        """Hand out the stream's deletes until it ends: True if it just went quiet or broke
        (open it again where it was), False if etcd cancelled it or refused it."""
        if response.status_code != 200:  # e.g. an expired token: the campaigns log in again
            return False
        try:
            for result in watch_results(response):
                self._deliver(deletes_in(result.get("events") or []))
        except WatchCancelled:
            return False  # no leader, a compacted revision: start anew
        return not self._closed

    def _deliver(self, deletes: list[tuple[str, int]]) -> None:
        if not deletes:
            return
        now = self._clock.now()
        answers: list[tuple[DeleteInterest, int | None]] = []
        with self._lock:
            hits: dict[DeleteInterest, list[tuple[str, int]]] = {}
            for key, revision in deletes:
                self._deletes[key] = (revision, now)
                self._delivered_to = max(self._delivered_to, revision)
                for interest in self._by_key.get(key, ()):
                    if revision >= interest.watch_from:
                        hits.setdefault(interest, []).append((key, revision))
            for interest, seen in hits.items():
                if self._remove_locked(interest):
                    answers.append((interest, _outcome(interest, seen)))
            self._prune_locked(now)
        for interest, answer in answers:
            interest.deliver(answer)

    def _prune_locked(self, now: float) -> None:
        old = [k for k, (_, seen) in self._deletes.items() if now - seen >= KEEP_DELETES]
        for key in old:
            revision, _ = self._deletes.pop(key)
            if self._covers_from is not None:
                self._covers_from = max(self._covers_from, revision + 1)

    def _answer_all(self, answer: int | None) -> None:
        with self._lock:
            taken = self._take_all_locked()
        for interest in taken:
            interest.deliver(answer)


_PENDING = object()


def _outcome(interest: DeleteInterest, seen: list[tuple[str, int]]) -> int | None:
    """The key's delete revision, unless our own key went before or with it (then None)."""
    key_at = min((r for k, r in seen if k == interest.key), default=None)
    own_at = min((r for k, r in seen if interest.own and k == interest.own), default=None)
    if own_at is not None and (key_at is None or own_at <= key_at):
        return None
    return key_at
