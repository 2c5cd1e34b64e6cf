"""Redis tokens never repeat and never go back, on a real redis-server.

A black-holing proxy (``tests/support/proxy.py``) cuts one elector off;
private servers (``tests/support/private.py``) give the configurations the shared one must not have:
an eviction policy, no persistence.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import leaselect
from leaselect.backend import Grant, Waiting
from leaselect.backends.redis import RedisBackend, RedisCandidacy
from leaselect.clock import SYSTEM_CLOCK
from leaselect.lease import Lease, LostReason
from tests.support.private import PrivateRedis
from tests.support.proxy import Proxy


class Recorder:
    """An elector's signals in order: ("elected", token) and ("lost", token, reason)."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.changed = threading.Condition()

    def elected(self, lease: Lease) -> None:
        with self.changed:
            self.events.append(("elected", lease.token))
            self.changed.notify_all()

    def lost(self, lease: Lease, reason: LostReason) -> None:
        with self.changed:
            self.events.append(("lost", lease.token, reason.value))
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[tuple[object, ...]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)


def test_a_tenure_after_an_unreachable_loss_never_reuses_the_token(url: str, name: str) -> None:
    """Cut off until the local deadline, back while the key still lives: the next tenure must
    not re-adopt the key (seen on main: elected 1 -> lost 1 unreachable -> elected 1)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proxy = Proxy(("127.0.0.1", port))
    recorder = Recorder()
    # deadline = sent + 2 x 0.98 - 0.8 = sent + 1.16 s; the key lives until sent' + 2 s
    elector = leaselect.Elector(
        f"redis://127.0.0.1:{proxy.port}/0?timeout=0.25",
        name,
        ttl=2.0,
        margin=0.8,
        on_elected=recorder.elected,
        on_lost=recorder.lost,
    )
    try:
        elector.start()
        assert recorder.wait_for(1, 5)[0][0] == "elected"
        proxy.drop()
        events = recorder.wait_for(2, 5)
        assert events[1][2] == "unreachable", events
        time.sleep(0.3)  # the resign after the loss times out (timeout=0.25)
        proxy.heal()
        events = recorder.wait_for(3, 5)
        assert len(events) >= 3, events
        assert events[2][0] == "elected" and int(events[2][1]) > int(events[0][1]), events  # type: ignore[call-overload]
    finally:
        elector.close()
        proxy.close()


@pytest.fixture
def backend(url: str) -> Iterator[RedisBackend]:
    opened = leaselect.connect(url)
    assert isinstance(opened, RedisBackend)
    yield opened
    opened.close()


def test_a_keep_alive_reply_about_the_previous_tenure_leaves_the_new_one_alone(
    backend: RedisBackend, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keep-alive sent during tenure 1 whose reply ("lease gone") lands after tenure 2 began
    must neither end tenure 2 nor stop its renewals (main: leading=False, never renewed)."""
    session = backend.session(2.0)
    candidacy = session.candidacy(name, "me", "")
    assert isinstance(candidacy, RedisCandidacy)
    first = candidacy.campaign(SYSTEM_CLOCK.now())
    assert isinstance(first, Grant)
    backend.client.delete(candidacy.keys.lease)  # tenure 1's key expired
    script = backend.keep_alive_script
    second: list[Grant | Waiting] = []

    def in_flight(*args: Any, **kwargs: Any) -> Any:
        reply = script(*args, **kwargs)  # Redis answered about tenure 1 ...
        candidacy.resign()  # ... and before the reply is read, tenure 2 begins
        second.append(candidacy.campaign(SYSTEM_CLOCK.now()))
        return reply

    monkeypatch.setattr(backend, "keep_alive_script", in_flight)
    stale = session.keep_alive([candidacy], SYSTEM_CLOCK.now())
    monkeypatch.setattr(backend, "keep_alive_script", script)
    assert isinstance(second[0], Grant) and second[0].token > first.token
    assert stale[0].reason is None and stale[0].ttl is None  # no news for tenure 2
    renewed = session.keep_alive([candidacy], SYSTEM_CLOCK.now())
    assert renewed[0].ttl == 2.0, renewed


def test_a_grant_reports_the_whole_milliseconds_redis_granted(
    backend: RedisBackend, name: str
) -> None:
    """PX takes whole milliseconds: a 1.0004 s TTL is granted as 1000 ms, and the local
    deadline must be computed from that, not from the 1.0004 s asked for."""
    candidacy = backend.session(1.0004).candidacy(name, "me", "")
    grant = candidacy.campaign(SYSTEM_CLOCK.now())
    assert isinstance(grant, Grant)
    assert grant.ttl == 1.0
    assert 0 < backend.client.pttl(f"leaselect:{{{name}}}:lease") <= 1000
    candidacy.resign()


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Callable[..., PrivateRedis]]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    started: list[PrivateRedis] = []

    def start(*args: str) -> PrivateRedis:
        started.append(PrivateRedis(tmp_path, *args))
        return started[-1]

    yield start
    for server in started:
        server.close()


def tokens_of(url: str, name: str, count: int) -> list[int]:
    """``count`` tenures in a row (acquire, release) and their tokens."""
    tokens = []
    elector = leaselect.Elector(url, name, ttl=2.0)
    try:
        for _ in range(count):
            lease = elector.acquire(timeout=5)
            assert lease is not None
            tokens.append(lease.token)
            elector.release()
    finally:
        elector.close()
    return tokens


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_a_redis_that_can_evict_our_keys_is_refused_unless_allowed(
    private: Callable[..., PrivateRedis], name: str, policy: str
) -> None:
    """allkeys-* can evict the token counter, volatile-* a live lease: refused at the first
    request with a ConfigError naming the policy and the opt-in (main: accepted silently)."""
    server = private("--maxmemory", "20mb", "--maxmemory-policy", policy)
    backend = leaselect.connect(server.url)
    try:
        with pytest.raises(leaselect.ConfigError, match=f"{policy}.*allow_eviction=1"):
            backend.observe(name)
    finally:
        backend.close()
    assert tokens_of(server.url + "?allow_eviction=1", name, 1)


def test_tokens_never_go_back_when_eviction_takes_the_counter(
    private: Callable[..., PrivateRedis], name: str
) -> None:
    """With eviction allowed, the counter is evicted; the next token is still greater
    (main: tokens 1..3, then 1)."""
    server = private("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-random")
    url = server.url + "?allow_eviction=1"
    before = tokens_of(url, name, 3)
    client = redis.Redis(port=server.port)
    counter = f"leaselect:{{{name}}}:token"
    for batch in range(400):  # fill memory until the counter is evicted
        if not client.exists(counter):
            break
        pipe = client.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"junk:{batch}:{i}", b"x" * 1000)
        pipe.execute()
    assert not client.exists(counter), "the counter was never evicted"
    client.flushdb()  # room for the lease again
    after = tokens_of(url, name, 1)
    assert after[0] > before[-1], (before, after)


def test_tokens_never_go_back_after_a_restart_without_persistence(
    private: Callable[..., PrivateRedis], name: str
) -> None:
    """A Redis that keeps nothing is killed and started again: the counter is gone, yet the
    next token is greater (main: tokens 1..3, then 1)."""
    server = private()
    before = tokens_of(server.url, name, 3)
    server.crash()
    server.start()
    after = tokens_of(server.url, name, 1)
    assert after[0] > before[-1], (before, after)
