"""A blocking, interruptible wait for the deletion of one etcd key (the predecessor's), and
of the waiter's own key with it when a hand-over is to skip its read (docs/etcd.md).

The gateway streams watch events as JSON lines over a long POST. The watch starts at a given
revision so a delete that happened between our read and the watch is replayed, not missed. The
caller's thread blocks in the socket read; ``interrupt`` shuts the socket down from any thread.

Every watch requires a leader (etcd's ``WithRequireLeader``, the gRPC metadata ``hasleader``,
which the gateway takes from the ``Grpc-Metadata-Hasleader`` header): a member that loses its
leader (cut off from its peers) cancels the watch about three election timeouts later instead
of keeping it open and silent, and the waiter campaigns again through another endpoint.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests

from ...clock import Clock
from .transport import CONNECT_TIMEOUT, Transport, b64, unb64

REQUIRE_LEADER = {"Grpc-Metadata-Hasleader": "true"}


class DeleteWatch:
    """Waits for one key's DELETE event; reusable, one wait at a time."""

    def __init__(self, transport: Transport, clock: Clock | None = None) -> None:
        self._transport = transport
        self._clock = transport.clock if clock is None else clock
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._interrupted = False
        self.deleted: int | None = None
        """The revision of the key's DELETE event if the last ``wait`` ended on it (None after a
        timeout, an interrupt or a broken stream)."""

    def interrupt(self) -> None:
        """Make the current (or the next) ``wait`` return now."""
        with self._lock:
            self._interrupted = True
            response = self._response
        if response is not None:
            shutdown_stream(response)

    def wait(self, key: str, start_revision: int, timeout: float, own: str = "") -> bool:
        """Return once ``key`` is deleted at or after ``start_revision``, or after ``timeout``.

        True if it returned early: the delete, an interrupt or a broken stream (campaign now).
        An interrupt that came while no wait was running ends the next wait at once: it is
        consumed by the wait it stops, never forgotten (a campaign between the two is not told).

        With ``own`` (the waiter's own key), one watch covers both keys and every key between
        them (ignored): its events come in revision order, so ``deleted`` is set only if
        ``key`` went while ``own`` had not, and a delete of ``own`` also ends the wait.
        """
        self.deleted = None
        if self._consume_interrupt():
            return True
        if timeout <= 0:
            return False
        deadline = self._clock.now() + timeout
        client = self._transport.client
        low, high = sorted((key, own)) if own else (key, key)
        create: dict[str, str | list[str]] = {
            "key": b64(low),
            "start_revision": str(start_revision),
            "filters": ["NOPUT"],
        }
        if own:
            create["range_end"] = b64(high + "\0")
        try:
            response = self._transport.session.post(
                client.get_url("watch"),
                json={"create_request": create},
                stream=True,
                timeout=(CONNECT_TIMEOUT, timeout),
                headers=REQUIRE_LEADER,
            )
        except requests.RequestException:
            return True  # the next campaign reports the failure and fails over
        with self._lock:
            self._response = response
            interrupted = self._interrupted
        try:
            if not interrupted:
                self.deleted = _read_until_delete(response, key, own, deadline, self._clock)
        finally:
            with self._lock:
                self._response = None
            response.close()
        return self._consume_interrupt() or self._clock.now() < deadline

    def _consume_interrupt(self) -> bool:
        with self._lock:
            interrupted, self._interrupted = self._interrupted, False
        return interrupted


def _read_until_delete(
    response: requests.Response, key: str, own: str, deadline: float, clock: Clock
) -> int | None:
    """Read the stream until something ends the wait; the revision of ``key``'s DELETE if that
    was it and ``own`` was not deleted before or with it. Deletes of other keys are skipped."""
    try:
        for line in response.iter_lines():
            if not line.strip():
                continue
            message = json.loads(line)
            if "error" in message:  # e.g. "etcdserver: no leader", inside an HTTP 200 stream
                return None
            result = message.get("result", {})
            events = result.get("events") or []
            if own and any(_deleted_at(event, own) for event in events):
                return None  # our own key went: the campaign registers again
            found = next((r for r in (_deleted_at(e, key) for e in events) if r), None)
            if found is not None or (events and not own):
                return found
            if result.get("canceled") or "error" in result or clock.now() >= deadline:
                return None
    except (requests.RequestException, OSError, ValueError, AttributeError):
        pass  # timeout, interrupt or a broken stream: the caller campaigns again
    return None


class WatchCancelled(Exception):
    """etcd ended a watch stream itself: no leader, a compacted revision, a refusal."""


def watch_results(response: requests.Response) -> Iterator[dict[str, Any]]:
    """The ``result`` objects of a gateway watch stream, in order. Ends quietly when the stream
    goes silent past its read timeout, is shut down or breaks; raises ``WatchCancelled`` when
    etcd ends it with an error or a cancel (it is not worth resuming)."""
    try:
        for line in response.iter_lines():
            if not line.strip():
                continue
            message = json.loads(line)
            result = message.get("result", {}) if isinstance(message, dict) else {}
            if "error" in message or result.get("canceled") or "error" in result:
                raise WatchCancelled
            yield result
    except (requests.RequestException, OSError, ValueError, AttributeError):
        return


def _deleted_at(event: object, key: str) -> int | None:
    """The revision of ``event`` if it is ``key``'s DELETE."""
    if not isinstance(event, dict) or event.get("type") != "DELETE":
        return None
    kv = event.get("kv")
    if not isinstance(kv, dict) or kv.get("key") != b64(key):
        return None
    try:
        return int(kv.get("mod_revision", 0)) or None
    except (TypeError, ValueError):
        return None


def deletes_in(events: list[object]) -> list[tuple[str, int]]:
    """(key, revision) of each DELETE among a watch response's ``events`` (others skipped)."""
    found: list[tuple[str, int]] = []
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "DELETE":
            continue
        kv = event.get("kv")
        if not isinstance(kv, dict):
            continue
        try:
            found.append((unb64(kv["key"]), int(kv.get("mod_revision", 0))))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def shutdown_stream(response: requests.Response) -> None:
    """Shut the streaming socket down so a read blocked in another thread returns."""
    try:
        fd = response.raw._fp.fileno()
        sock = socket.socket(fileno=socket.dup(fd))
    except (AttributeError, OSError, ValueError):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()
