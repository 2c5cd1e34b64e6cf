"""Leader watches of the etcd backend: one watch stream over the watched elections' keys.

A candidate key goes when its holder resigns or its lease expires (etcd deletes the keys of an
expired lease and reports the DELETE), and a new key comes with every campaign; any event under
a watched election's directory hints that election (the read decides whether its leader
changed). The stream spans the key range from the lowest watched directory to the end of the
highest, and events of other elections in that range are skipped. It requires a leader (as in
``watch``), and a stream silent for ``READ_TIMEOUT`` is opened again from the revision after
the last one it reported, so nothing is missed and nothing is read again; a stream etcd cancels
(no leader, a compacted revision) or that cannot be opened is opened anew with backoff, and
every election is read again: those reads fail over to a live member (``Transport.post``), and
the stream opens on the member the reads moved to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import requests

from ...leader_feed import Backoff, LeaderFeed
from .deletes import READ_TIMEOUT
from .transport import CONNECT_TIMEOUT, Transport, b64, prefix_end, unb64
from .watch import REQUIRE_LEADER, WatchCancelled, shutdown_stream, watch_results


class EtcdLeaderFeed(LeaderFeed):
    """Hints from one watch stream over the directories of ``names`` (``directory(name)``)."""

    def __init__(
        self, transport: Transport, directory: Callable[[str], str], names: Sequence[str]
    ) -> None:
        super().__init__(names)
        self._transport = transport
        self._directories = {directory(name): name for name in self.names}
        self._low = min(self._directories)
        self._high = max(prefix_end(directory) for directory in self._directories)
        self._response: requests.Response | None = None
        self._backoff = Backoff()
        self._revision = 0  # the last revision the stream reported

    def _run(self) -> None:
        resume: int | None = None  # reopen at this revision (None: anew, reading every name)
        while not self.closed:
            response = self._open(resume)
            if response is None:
                resume = None
                self._broken()
                continue
            self._response = response
            try:
                if self.closed:
                    break
                clean = self._read(response, fresh=resume is None)
            finally:
                self._response = None
                response.close()
            if clean:
                resume = self._revision + 1
            else:
                resume = None
                self._broken()

    def _broken(self) -> None:
        """The stream could not be opened or etcd ended it: read every election (the reads fail
        over to another member, where the stream opens next), then pause."""
        self._not_opened()
        self.hint(*self.names)
        self._backoff.pause()

    def _open(self, resume: int | None) -> requests.Response | None:
        create: dict[str, str] = {"key": b64(self._low), "range_end": b64(self._high)}
        if resume is not None:
            create["start_revision"] = str(resume)
        try:
            response = self._transport.session.post(
                self._transport.client.get_url("watch"),
                json={"create_request": create},
                stream=True,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                headers=REQUIRE_LEADER,
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            response.close()
            return None
        return response

    def _read(self, response: requests.Response, fresh: bool) -> bool | None:
        """Hint what the stream reports until it ends: True if it went quiet or broke after it
        was created (resume it), False if etcd cancelled it, None if it never was created."""
        created = False
        try:
            for result in watch_results(response):
                revision = int(result.get("header", {}).get("revision", 0) or 0)
                if result.get("created") and not created:
                    created = True
                    self._backoff.reset()
                    if fresh:
                        self._revision = revision
                        self._opened_now()
                self._hint_events(result.get("events") or [])
                self._revision = max(self._revision, revision)
        except WatchCancelled:
            return False if created else None
        return True if created else None

    def _hint_events(self, events: list[object]) -> None:
        hinted = set()
        for event in events:
            kv = event.get("kv") if isinstance(event, dict) else None
            key = unb64(kv.get("key", "")) if isinstance(kv, dict) else ""
            for directory, name in self._directories.items():
                if key.startswith(directory):
                    hinted.add(name)
        if hinted:
            self.hint(*hinted)

    def _close(self) -> None:
        self._backoff.cancel()
        response = self._response
        if response is not None:
            shutdown_stream(response)
