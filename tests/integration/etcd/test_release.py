"""etcd: a key this process gave up never outlives its use, and never comes back as a token.

On the real cluster of ``backends/launch.py``; a black-holing proxy
(``tests/support/proxy.py``) in front of one endpoint cuts one backend off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import leaselect
from leaselect.backend import Grant, Waiting
from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.etcd.candidacy import EtcdCandidacy
from leaselect.backends.etcd.transport import b64, granted_seconds
from leaselect.clock import SYSTEM_CLOCK
from leaselect.lease import Lease, LostReason
from tests.support.proxy import Proxy


@pytest.fixture
def proxy(url: str) -> Iterator[Proxy]:
    """A proxy in front of the first endpoint."""
    first = url.split("://", 1)[1].split(",")[0]
    opened = Proxy(("127.0.0.1", int(first.split(":")[1])))
    yield opened
    opened.close()


def election() -> str:
    return f"rel-{os.urandom(6).hex()}"


class Recorder:
    """An elector's signals in order: ("elected", token) and ("lost", token, reason)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.changed = threading.Condition()

    def elected(self, lease: Lease) -> None:
        with self.changed:
            self.events.append(("elected", lease.token, ""))
            self.changed.notify_all()

    def lost(self, lease: Lease, reason: LostReason) -> None:
        with self.changed:
            self.events.append(("lost", lease.token, reason.value))
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[tuple[str, int, str]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)


def test_a_tenure_after_an_unreachable_loss_never_reuses_the_token(proxy: Proxy) -> None:
    """Cut off until the local deadline, back while the lease still lives: the next tenure
    must not re-adopt the old key (main: elected 2 -> lost 2 unreachable -> elected 2)."""
    recorder = Recorder()
    # deadline = sent + 3 x 0.98 - 1 = sent + 1.94 s; the lease lives until sent' + 3 s
    elector = leaselect.Elector(
        f"etcd://127.0.0.1:{proxy.port}?timeout=0.3",
        election(),
        ttl=3.0,
        margin=1.0,
        on_elected=recorder.elected,
        on_lost=recorder.lost,
    )
    try:
        elector.start()
        assert recorder.wait_for(1, 10)[0][0] == "elected"
        proxy.drop()
        events = recorder.wait_for(2, 5)
        assert events[1][2] == "unreachable", events
        time.sleep(0.4)  # the resign after the loss times out (timeout=0.3)
        proxy.heal()
        events = recorder.wait_for(3, 5)
        assert len(events) >= 3, events
        assert events[2][0] == "elected" and events[2][1] > events[0][1], events
    finally:
        elector.close()


def test_a_failed_resign_on_a_shared_backend_does_not_strand_the_election(
    url: str, proxy: Proxy
) -> None:
    """The released key is bound to the session lease that another elector of the same
    backend keeps renewing: the key must go anyway (main: no leader for good)."""
    shared = leaselect.connect(f"etcd://127.0.0.1:{proxy.port}?timeout=0.3")
    assert isinstance(shared, EtcdBackend)
    name = election()
    leader = leaselect.Elector(shared, name, ttl=3.0)
    other = leaselect.Elector(shared, election(), ttl=3.0)  # keeps the shared lease renewed
    rival = leaselect.Elector(url, name, ttl=3.0)
    try:
        assert leader.acquire(timeout=10) is not None
        assert other.acquire(timeout=10) is not None
        rival.start()
        time.sleep(0.5)
        assert not rival.is_leader
        proxy.drop()
        released = SYSTEM_CLOCK.now()
        leader.release()  # its resign cannot reach etcd
        proxy.heal()
        while not rival.is_leader and SYSTEM_CLOCK.now() - released < 10:
            time.sleep(0.02)
        assert rival.is_leader, "the released key kept the election without a leader"
        assert SYSTEM_CLOCK.now() - released < 3.0 + 1.0
        assert other.is_leader  # the shared lease survived for the other election
    finally:
        for elector in (rival, leader, other):
            elector.close()
        shared.close()


def test_nested_prefixes_do_not_see_each_others_candidates(url: str) -> None:
    """Prefix /p with election "a" and prefix /p/a with election "b": the first election's
    range covers the second's keys; they must not block it (main: never elected)."""
    top = f"/{election()}"
    inner = leaselect.Elector(f"{url}?prefix={top}/a", "b", ttl=3.0)
    outer = leaselect.Elector(f"{url}?prefix={top}", "a", ttl=3.0)
    try:
        assert inner.acquire(timeout=10) is not None
        assert outer.acquire(timeout=3) is not None, "election b's key blocks election a"
        seen = outer.leader()
        assert seen is not None and seen.identity == outer.identity, seen
        assert inner.is_leader
    finally:
        outer.close()
        inner.close()


def test_an_interrupt_before_the_campaign_starts_is_not_lost(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``release()`` lands while the campaign thread is about to campaign: the interrupt must
    still stop the wait that follows (main: it was reset away, release took a full TTL)."""
    name = election()
    holder = leaselect.Elector(url, name, ttl=3.0)
    waiter = leaselect.Elector(url, name, ttl=3.0)
    entered = threading.Event()
    original = EtcdCandidacy.campaign

    def late_campaign(self: EtcdCandidacy, sent: float) -> Grant | Waiting:
        entered.set()
        time.sleep(0.3)  # the release (and its interrupt) lands here
        return original(self, sent)

    try:
        assert holder.acquire(timeout=10) is not None
        monkeypatch.setattr(EtcdCandidacy, "campaign", late_campaign)
        waiter.start()
        assert entered.wait(5)
        start = SYSTEM_CLOCK.now()
        waiter.release()
        took = SYSTEM_CLOCK.now() - start
        assert took < 1.0, f"release took {took:.2f}s"
    finally:
        waiter.close()
        holder.close()


def test_a_keep_alive_of_a_revoked_lease_reads_zero(url: str) -> None:
    """The wire format ``granted_seconds`` relies on: etcd answers a keep-alive of a lease it
    no longer knows with HTTP 200, a ``result`` and no ``TTL`` (zero, omitted)."""
    backend = leaselect.connect(url)
    assert isinstance(backend, EtcdBackend)
    try:
        lease = backend.post("lease/grant", {"TTL": "5"})["ID"]
        assert granted_seconds(backend.post("lease/keepalive", {"ID": lease})) == 5
        backend.post("lease/revoke", {"ID": lease})
        assert granted_seconds(backend.post("lease/keepalive", {"ID": lease})) == 0
    finally:
        backend.close()


def test_a_registration_whose_reply_was_lost_is_deleted_on_release(url: str) -> None:
    """A candidacy's registering transaction is applied but its reply lost; the elector is
    then released. Its key, bound to a lease another election keeps renewed, must go (main:
    skipped, since no create revision was known; it then blocked the next waiter for good)."""
    first = url.split("://", 1)[1].split(",")[0]
    proxy = Proxy(("127.0.0.1", int(first.split(":")[1])))
    shared = leaselect.connect(f"etcd://127.0.0.1:{proxy.port}?timeout=0.3")
    name = election()
    leader = leaselect.Elector(url, name, ttl=3.0)
    other = leaselect.Elector(shared, election(), ttl=3.0)  # keeps the shared lease renewed
    lost_reply = leaselect.Elector(shared, name, ttl=3.0)
    successor = leaselect.Elector(url, name, ttl=3.0)
    try:
        assert leader.acquire(timeout=10) is not None
        assert other.acquire(timeout=10) is not None
        proxy.drop(replies_only=True)
        lost_reply.start()  # registers behind the leader; the reply never arrives
        time.sleep(0.5)
        lost_reply.release()
        proxy.heal()
        successor.start()
        time.sleep(0.3)
        leader.release()
        start = SYSTEM_CLOCK.now()
        while not successor.is_leader and SYSTEM_CLOCK.now() - start < 5:
            time.sleep(0.02)
        assert successor.is_leader, "an orphan registration blocks the election"
    finally:
        for elector in (successor, lost_reply, leader, other):
            elector.close()
        shared.close()
        proxy.close()


def test_a_keep_alive_reply_about_the_previous_tenure_leaves_the_new_one_alone(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keep-alive sent during tenure 1 finds tenure 1's key gone; before its ownership check
    is read, tenure 2 begins. The answer about tenure 1 must neither end tenure 2 nor stop its
    renewals (main: the candidacy stopped counting as leading, tenure 2 never renewed)."""
    backend = leaselect.connect(url)
    assert isinstance(backend, EtcdBackend)
    session = backend.session(3.0)
    candidacy = session.candidacy(election(), "me", "")
    assert isinstance(candidacy, EtcdCandidacy)
    try:
        first = candidacy.campaign(SYSTEM_CLOCK.now())
        assert isinstance(first, Grant)
        backend.post("kv/deleterange", {"key": b64(candidacy.key)})  # tenure 1's key is gone
        post = backend.post
        second: list[Grant | Waiting] = []

        def in_flight(path: str, body: Any) -> Any:
            reply = post(path, body)
            if path == "kv/txn" and not second and "failure" not in body:  # the 2nd check
                candidacy.resign()  # ... and before its answer is read, tenure 2 begins
                second.append(candidacy.campaign(SYSTEM_CLOCK.now()))
            return reply

        monkeypatch.setattr(backend, "post", in_flight)
        stale = session.keep_alive([candidacy], SYSTEM_CLOCK.now())
        monkeypatch.setattr(backend, "post", post)
        assert isinstance(second[0], Grant) and second[0].token > first.token
        assert stale[0].reason is None and stale[0].ttl is None, stale  # no news for tenure 2
        renewed = session.keep_alive([candidacy], SYSTEM_CLOCK.now())
        assert renewed[0].ttl is not None, renewed
    finally:
        candidacy.resign()
        backend.close()
