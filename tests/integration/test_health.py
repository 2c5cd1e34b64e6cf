"""Elector.health() and the HTTP probes against real stores: a wedged callback, a stopped
store, a follower, the leader probe and the metrics page."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leaselect import ConfigError, Elector, Lease, connect
from leaselect.probes import ProbeServer, serve
from tests.support.private import PrivateRedis
from tests.support.waiting import eventually


def get(server: ProbeServer, path: str) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            status, body, kind = answer.status, answer.read(), answer.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers["Content-Type"]
    return status, json.loads(body) if kind == "application/json" else body.decode()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/leases.db"


def test_a_wedged_callback_fails_liveness_until_it_returns(sqlite_url: str) -> None:
    gate = threading.Event()

    def wedged(lease: Lease) -> None:
        gate.wait()

    elector = Elector(sqlite_url, "jobs", ttl=3, on_elected=wedged)
    try:
        elector.start()
        with serve([elector], callback_limit=0.3) as probes:
            assert eventually(lambda: elector.is_leader, 5)
            assert eventually(lambda: not elector.health(0.3).live, 2)
            health = elector.health(0.3)
            assert any("on_elected running for" in r for r in health.reasons)
            status, body = get(probes, "/healthz")
            assert status == 503 and body["ok"] is False
            assert body["electors"][0]["callback_running_for"] > 0.3
            gate.set()
            assert eventually(lambda: elector.health(0.3).healthy, 2)
            assert get(probes, "/healthz")[0] == 200 and get(probes, "/readyz")[0] == 200
    finally:
        gate.set()
        elector.close()
    closed = elector.health()
    assert not closed.live and closed.reasons == ("closed",)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = PrivateRedis(tmp_path)
    yield server
    server.close()


def test_a_stopped_store_fails_readiness_not_liveness_and_recovers(
    private_redis: PrivateRedis,
) -> None:
    backend = connect(private_redis.url)
    elected: list[Lease] = []
    leader = Elector(backend, "jobs", ttl=2, identity="a", on_elected=elected.append)
    follower = Elector(backend, "jobs", ttl=2, identity="b")
    try:
        assert leader.acquire(timeout=5) is not None
        follower.start()
        with serve([leader, follower]) as probes:
            assert eventually(lambda: leader.health().healthy and follower.health().healthy, 3)
            status, body = get(probes, "/readyz")
            assert status == 200 and [e["leading"] for e in body["electors"]] == [True, False]
            private_redis.crash()
            assert eventually(lambda: not leader.health().healthy, 2)
            assert any("jeopardy" in r for r in leader.health().reasons)
            assert eventually(lambda: not follower.health().healthy, 4)
            assert any("store not heard from" in r for r in follower.health().reasons)
            assert get(probes, "/readyz")[0] == 503
            assert get(probes, "/healthz")[0] == 200  # a restart cannot fix the store
            private_redis.start()
            assert eventually(lambda: leader.is_leader or follower.is_leader, 10)
            assert eventually(lambda: leader.health().healthy and follower.health().healthy, 5)
            assert get(probes, "/readyz")[0] == 200
    finally:
        leader.close()
        follower.close()
        backend.close()


def test_the_leader_probe_answers_only_on_the_leader_and_metrics_are_served(
    sqlite_url: str,
) -> None:
    from prometheus_client import CollectorRegistry

    from leaselect.metrics.prometheus import instrument

    registry = CollectorRegistry()
    metrics = instrument(registry)
    backend = connect(sqlite_url)
    leader = Elector(backend, "jobs", ttl=3, identity="a")
    follower = Elector(backend, "jobs", ttl=3, identity="b")
    try:
        assert leader.acquire(timeout=5) is not None
        follower.start()
        with serve([leader], registry=registry) as on_leader, serve([follower]) as on_follower:
            assert get(on_leader, "/leader") == (200, {"leading": True})
            assert get(on_follower, "/leader") == (503, {"leading": False})
            assert get(on_leader, "/leader?election=other")[0] == 503
            assert eventually(lambda: follower.health().healthy, 2)
            assert get(on_follower, "/readyz")[0] == 200  # a waiting follower is ready
            status, text = get(on_leader, "/metrics")
            assert status == 200 and 'leaselect_is_leader{election="jobs"' in text
            assert get(on_leader, "/nothing")[0] == 404
    finally:
        leader.close()
        follower.close()
        backend.close()
        metrics.close()


def test_bad_probe_settings_name_the_parameter(sqlite_url: str) -> None:
    elector = Elector(sqlite_url, "jobs", ttl=3)
    try:
        with pytest.raises(ConfigError, match="port must be"):
            serve([elector], port=-1)
        with pytest.raises(ConfigError, match="callback_limit must be"):
            elector.health(callback_limit=0)
        for bad in (-1, 0, "soon", True):
            with pytest.raises(ConfigError, match="callback_limit must be"):
                serve([elector], callback_limit=bad)  # type: ignore[arg-type]
        with serve([elector]) as taken, pytest.raises(ConfigError, match="cannot serve probes"):
            serve([elector], port=taken.port)
    finally:
        elector.close()


def test_close_ends_the_thread_of_an_idle_client(sqlite_url: str) -> None:
    import socket

    elector = Elector(sqlite_url, "jobs", ttl=3)
    try:
        probes = serve([elector])
        idle = socket.create_connection(("127.0.0.1", probes.port))  # connects, sends nothing
        time.sleep(0.2)
        began = time.monotonic()
        probes.close()
        assert time.monotonic() - began < 4
        assert not [t for t in threading.enumerate() if "process_request" in t.name]
        idle.close()
    finally:
        elector.close()
