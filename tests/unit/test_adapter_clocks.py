"""Store adapters read time from the clock injected into the backend, and from nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.etcd.transport import Transport
from leaselect.backends.redis import RedisBackend
from leaselect.backends.redis.client import settings
from leaselect.backends.sqlite import SqliteBackend
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.backends.zookeeper.client import ClientConfig
from leaselect.testing import FakeClock
from leaselect.urls import parse

BACKENDS = Path(__file__).resolve().parents[2] / "leaselect" / "backends"
# what an adapter may read besides its clock: the wall clock as a token floor that survives a
# new file (not a time any lease is measured with; see its module docstring)
ALLOWED = {("sqlite/tokens.py", "time.time_ns")}
TIME_READS = {"monotonic", "monotonic_ns", "time", "time_ns", "clock_gettime", "perf_counter"}
TIME_READS |= {"sleep"}  # a pause of the adapter's is a wait on its clock


def time_reads(path: Path) -> set[str]:
    """The calls in ``path`` that read a clock other than an injected one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found.update(f"from time import {alias.name}" for alias in node.names)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not isinstance(owner, ast.Name):
            continue
        name = f"{owner.id}.{node.func.attr}"
        if (owner.id == "time" and node.func.attr in TIME_READS) or owner.id == "SYSTEM_CLOCK":
            found.add(name)
    return found


def test_no_adapter_reads_a_clock_of_its_own() -> None:
    reads = {
        (str(path.relative_to(BACKENDS)), call)
        for path in sorted(BACKENDS.rglob("*.py"))
        for call in time_reads(path)
    }
    assert reads - ALLOWED == set()


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import time\nfrom time import monotonic\n"
        "a = time.monotonic()\nb = SYSTEM_CLOCK.now()\ntime.sleep(1)\nc = clock.now()\n"
    )
    assert time_reads(module) == {
        "from time import monotonic",
        "time.monotonic",
        "SYSTEM_CLOCK.now",
        "time.sleep",
    }


def test_each_backend_hands_its_clock_to_its_parts() -> None:
    clock = FakeClock()
    etcd = EtcdBackend(Transport(parse("etcd://127.0.0.1:1"), clock=clock))
    redis = RedisBackend(settings(parse("redis://127.0.0.1:1/0")), clock=clock)
    zookeeper = ZooKeeperBackend(ClientConfig.from_url(parse("zk://127.0.0.1:1")), clock=clock)
    try:
        assert etcd.clock is clock and etcd.deletes._clock is clock
        assert redis.clock is clock and redis.wakes._clock is clock
        assert zookeeper.conn.clock is clock
    finally:
        etcd.close()
        redis.close()
        zookeeper.close()


def test_embedded_lease_times_follow_the_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    backend = SqliteBackend(str(tmp_path / "leases.db"), clock=clock)
    try:
        candidacy = backend.session(5.0).candidacy("job", "me", "")
        grant = candidacy.campaign(clock.now())
        leader = backend.observe("job")
        assert leader is not None and leader.token == getattr(grant, "token", None)
        assert leader.expires_in == 5.0  # on the fake clock, which has not moved
        clock.advance(4.0)
        leader = backend.observe("job")
        assert leader is not None and leader.expires_in == 1.0
        clock.advance(1.0)
        assert backend.observe("job") is None
        candidacy.resign()
    finally:
        backend.close()
