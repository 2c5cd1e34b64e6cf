"""The Redis backend's own promises, on the real redis-server of ``backends/launch.py``.

Run: .venv/bin/python -m pytest tests/integration/redis/test_backend.py
Counting wrappers spy on leaselect's own calls; the store is never mocked.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

import leaselect
from leaselect.backend import Grant, Renewal, Waiting
from leaselect.backends.redis import RedisBackend, RedisCandidacy
from leaselect.backends.redis.scripts import ACQUIRE
from leaselect.lease import LostReason
from tests.support.contenders import read_event, spawn
from tests.support.private import elect_and_hand_over, free_port
from tests.support.tls import Certs, make_certs


@pytest.fixture
def backend(url: str) -> Iterator[RedisBackend]:
    opened = leaselect.connect(url)
    assert isinstance(opened, RedisBackend)
    yield opened
    opened.close()


def counting(monkeypatch: pytest.MonkeyPatch, cls: Any, method: str) -> list[object]:
    """Record the instance of every call of ``cls.method``."""
    calls: list[object] = []
    original: Callable[..., Any] = getattr(cls, method)

    def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, wrapper)
    return calls


def test_a_release_wakes_exactly_one_waiter(
    url: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = counting(monkeypatch, RedisCandidacy, "campaign")
    leader = leaselect.Elector(url, name, ttl=30)
    assert leader.acquire(timeout=5) is not None
    waiters = [leaselect.Elector(url, name, ttl=30) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.5)
    before = len(campaigns)
    assert before == 6
    leader.release()
    time.sleep(0.5)
    assert len(campaigns) - before == 1, "a release must wake one waiter, not all"
    assert sum(w.is_leader for w in waiters) == 1
    for elector in [leader, *waiters]:
        elector.close()


def test_a_release_hands_the_lease_over_so_the_next_leader_needs_no_round_trip(
    url: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = counting(monkeypatch, redis.commands.core.Script, "__call__")
    leader, waiter = (leaselect.Elector(url, name, ttl=10) for _ in range(2))
    first = leader.acquire(timeout=5)
    assert first is not None
    waiter.start()
    time.sleep(0.3)
    before = len(scripts)
    leader.release()
    deadline = time.monotonic() + 2
    while waiter.lease is None and time.monotonic() < deadline:
        time.sleep(0.001)
    lease = waiter.lease
    assert lease is not None and lease.token > first.token
    pttl = redis.Redis.from_url(url).pttl(f"leaselect:{{{name}}}:lease") / 1000
    now = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert lease.deadline <= now + pttl, "the handed lease outlives our belief in it"
    acquires = [s for s in scripts[before:] if getattr(s, "script", "") == ACQUIRE]
    assert acquires == [], "the woken waiter ran the acquire script after the release"
    for elector in (leader, waiter):
        elector.close()


def test_a_handed_lease_with_an_unknown_anchor_is_confirmed_by_a_round_trip(
    backend: RedisBackend, name: str
) -> None:
    session = backend.session(5.0)
    holder, waiter = (session.candidacy(name, who, "") for who in ("holder", "waiter"))
    held = holder.campaign(1.0)
    assert isinstance(held, Grant)
    waiting = waiter.campaign(2.0)
    assert isinstance(waiting, Waiting) and isinstance(waiter, RedisCandidacy)
    waiter._scores.clear()  # as if the registration score were too old to remember
    holder.resign()
    waiter.wait(waiting, 2.0)
    confirmed = waiter.campaign(3.0)
    assert isinstance(confirmed, Grant)
    assert confirmed.token > held.token and confirmed.anchor == 3.0
    waiter.resign()


def test_one_round_trip_renews_many_elections(
    backend: RedisBackend, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = backend.session(5.0)
    leaders = [session.candidacy(f"{name}-{i}", "me", "") for i in range(20)]
    assert all(isinstance(c.campaign(0.0), Grant) for c in leaders)
    other_backend = leaselect.connect(backend.conf.url)
    other = other_backend.session(5.0)
    waiter = other.candidacy(f"{name}-0", "other", "")
    assert isinstance(waiter.campaign(0.0), Waiting)
    calls = counting(monkeypatch, type(backend.keep_alive_script), "__call__")
    assert session.keep_alive(leaders, 0.0) == [Renewal(5.0)] * 20
    assert len(calls) == 1
    assert other.keep_alive([waiter], 0.0) == [Renewal(None, None)]
    redis.Redis.from_url(backend.conf.url).delete(backend.key(f"{name}-3", "lease"))
    assert session.keep_alive(leaders[2:4], 0.0) == [
        Renewal(5.0),
        Renewal(None, LostReason.EXPIRED),
    ]
    for candidacy in [*leaders, waiter]:
        candidacy.resign()
    other_backend.close()


def test_resign_then_campaign_again(backend: RedisBackend, name: str) -> None:
    candidacy = backend.session(2.0).candidacy(name, "me", "meta")
    first = candidacy.campaign(1.0)
    assert isinstance(first, Grant) and first.anchor == 1.0 and first.ttl == 2.0
    again = candidacy.campaign(2.0)  # a retry after a lost reply: same tenure, same token
    assert isinstance(again, Grant) and again.token == first.token
    candidacy.resign()
    candidacy.resign()
    assert backend.observe(name) is None
    second = candidacy.campaign(3.0)
    assert isinstance(second, Grant) and second.token > first.token
    candidacy.resign()


def test_prefix_option_places_the_keys(url: str, name: str) -> None:
    backend = leaselect.connect(f"{url}?prefix=myapp:")
    candidacy = backend.session(2.0).candidacy(name, "me", "")
    assert isinstance(candidacy.campaign(0.0), Grant)
    client = redis.Redis.from_url(url)
    assert client.exists(f"myapp:{{{name}}}:lease", f"myapp:{{{name}}}:token") == 2
    candidacy.resign()
    backend.close()


@pytest.mark.parametrize("ttl", [0.001, math.inf, math.nan])
def test_ttls_redis_cannot_honour_are_rejected(url: str, name: str, ttl: float) -> None:
    with pytest.raises(leaselect.ConfigError):
        leaselect.Elector(url, name, ttl=ttl)


def test_the_password_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = leaselect.connect("redis://user:s3cret-pw@127.0.0.1:1/0?timeout=0.5")
    assert "s3cret" not in repr(backend)
    with pytest.raises(leaselect.BackendUnavailable) as caught:
        backend.observe("x")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    backend.close()


def test_acl_user_with_password_from_the_environment(
    url: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = redis.Redis.from_url(url)
    user = f"ls-{uuid.uuid4().hex[:6]}"
    admin.acl_setuser(user, enabled=True, passwords=["+pw-ok"], keys=["*"], commands=["+@all"])
    try:
        host = url.split("://", 1)[1]
        monkeypatch.setenv("LEASELECT_REDIS_PASSWORD", "pw-ok")
        with leaselect.connect(f"redis://{user}@{host}") as backend:
            assert backend.observe(name) is None
        with pytest.raises(leaselect.ConfigError) as caught:
            leaselect.connect(f"redis://{user}:wrong-pw@{host}").observe(name)
        assert "wrong-pw" not in str(caught.value)
    finally:
        admin.acl_deluser(user)


def test_a_dead_waiter_stalls_a_handover_at_most_its_registration(url: str, name: str) -> None:
    ttl = 2.0
    leader = leaselect.Elector(url, name, ttl=ttl)
    assert leader.acquire(timeout=5) is not None
    live = leaselect.Elector(url, name, ttl=ttl)
    live.start()
    time.sleep(0.2)
    doomed = spawn(url, name, ttl, "hold")  # registers last: the freshest, so woken first
    read_event(doomed, "ready")
    time.sleep(0.3)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    released = time.monotonic()
    leader.release()
    became = threading.Event()
    while not live.is_leader and time.monotonic() - released < ttl + 1:
        became.wait(0.01)
    assert live.is_leader
    assert time.monotonic() - released <= ttl + 0.1
    live.close()
    leader.close()


@pytest.fixture
def unix_redis(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a Unix socket only (started and stopped by this test)."""
    sock = tmp_path / "redis.sock"
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            time.sleep(0.05)
        else:
            pytest.fail(f"the private redis-server on {sock} never answered PING")
        yield f"unix://{sock}?db=0"
    finally:
        server.kill()
        server.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_unix_socket_url(unix_redis: str, name: str) -> None:
    elector = leaselect.Elector(unix_redis, name, ttl=1.0, identity="sock")
    lease = elector.acquire(timeout=5)
    assert lease is not None and lease.token > 0
    seen = elector.leader()
    assert seen is not None and seen.identity == "sock"
    elector.close()


REDIS_SERVER = "/usr/bin/redis-server"
TLS_PASSWORD = "tls-s3cret-pw"


@dataclass(frozen=True)
class TlsRedis:
    """A private TLS-only redis-server: its port and the PEM files it trusts."""

    port: int
    certs: Certs


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    """A private redis-server on 127.0.0.1: TLS only, client certificate and password required."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"needs {REDIS_SERVER}")
    certs, port = make_certs(tmp_path), free_port()
    args = [
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        certs.cert,
        "--tls-key-file",
        certs.key,
        "--tls-ca-cert-file",
        certs.ca,
        "--tls-auth-clients",
        "yes",
        "--requirepass",
        TLS_PASSWORD,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        tmp_path,
        "--logfile",
        tmp_path / "redis.log",
    ]
    server = subprocess.Popen([REDIS_SERVER, *map(str, args)], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(
            port=port,
            password=TLS_PASSWORD,
            ssl=True,
            ssl_ca_certs=str(certs.ca),
            ssl_certfile=str(certs.cert),
            ssl_keyfile=str(certs.key),
        )
        deadline = time.monotonic() + 10
        while True:
            assert server.poll() is None, f"redis-server exited; see {tmp_path / 'redis.log'}"
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert time.monotonic() < deadline, "no answer over TLS in 10 s"
            time.sleep(0.05)
        client.close()
        yield TlsRedis(port, certs)
    finally:
        server.kill()
        server.wait()


def tls_url(server: TlsRedis, ca: Path | None = None, client_cert: bool = True) -> str:
    """A rediss:// URL with the password in it, trusting ``ca`` (the server's CA by default)."""
    options = {"ssl_ca_certs": ca or server.certs.ca, "timeout": 2}
    if client_cert:
        options |= {"ssl_certfile": server.certs.cert, "ssl_keyfile": server.certs.key}
    return f"rediss://:{TLS_PASSWORD}@127.0.0.1:{server.port}/0?{urlencode(options)}"


def test_rediss_url_elects_and_hands_over(tls_redis: TlsRedis, name: str) -> None:
    """Over TLS with a client certificate: a leader, a waiter, a handover with a greater token."""
    elect_and_hand_over(tls_url(tls_redis), name, 5, TLS_PASSWORD)


@pytest.mark.parametrize(
    ("case", "error", "says"),
    [
        ("wrong CA", leaselect.BackendUnavailable, "certificate verify failed"),
        ("no client cert", leaselect.BackendUnavailable, "unreachable"),
        ("plain redis://", leaselect.BackendUnavailable, "unreachable"),
        ("wrong password", leaselect.ConfigError, "refused our credentials"),
    ],
)
def test_rediss_refusals_are_clear_and_never_show_the_password(
    tls_redis: TlsRedis, tmp_path: Path, name: str, case: str, error: type[Exception], says: str
) -> None:
    """Each refusal is a leaselect error naming the server and the cause, never the password."""
    url = tls_url(tls_redis)
    if case == "wrong CA":
        (tmp_path / "other").mkdir()
        url = tls_url(tls_redis, ca=make_certs(tmp_path / "other").ca)
    elif case == "no client cert":
        url = tls_url(tls_redis, client_cert=False)
    elif case == "plain redis://":
        url = f"redis://:{TLS_PASSWORD}@127.0.0.1:{tls_redis.port}/0?timeout=2"
    else:
        url = url.replace(TLS_PASSWORD, "wrong-pw")
    backend = leaselect.connect(url)
    assert TLS_PASSWORD not in repr(backend) + str(backend)
    with pytest.raises(error) as caught:
        backend.observe(name)
    message = str(caught.value)
    assert says in message and f"127.0.0.1:{tls_redis.port}" in message
    assert TLS_PASSWORD not in message and "wrong-pw" not in message
    backend.close()
