"""Every store's fence against a paused-then-resumed old leader, on the real servers.

Leader A (a process of its own: ``fence_worker``) is elected, writes through the fence and keeps
what it writes with; it is SIGSTOPped until B is elected and writes; then A resumes and writes
with what it kept. The fence must refuse it with ``StaleToken`` and leave B's value.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kazoo.exceptions import BadVersionError

import leaselect
from leaselect.fencing import RedisFence, StaleToken, ZooKeeperFence
from tests.support.fence_worker import fenced_value
from tests.support.stores import Store, require_url

ROOT = Path(__file__).resolve().parents[2]
PAUSES = 3  # SIGSTOP caught A holding the embedded store's write lock: resume it, stop it again


class Worker:
    """The old leader's process and its JSON lines."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "tests.support.fence_worker", *args]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def event(self, timeout: float) -> dict[str, Any]:
        try:
            event: dict[str, Any] = json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"the old leader said nothing in {timeout:g} s") from None
        return event

    def signal(self, number: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, number)

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("write\n")
        self.proc.stdin.flush()


@pytest.fixture
def worker(store: Store, store_url: str, election: str, tmp_path: Path) -> Iterator[Worker]:
    started = Worker(store.kind, store_url, election, str(store.fast_ttl), str(tmp_path))
    yield started
    started.signal(signal.SIGCONT)
    try:
        started.proc.wait(30)
    finally:
        started.proc.kill()
        started.proc.wait()


def elect_b_while_a_is_stopped(worker: Worker, elector: leaselect.Elector) -> leaselect.Lease:
    for _ in range(PAUSES):
        worker.signal(signal.SIGSTOP)
        try:
            lease = elector.acquire(timeout=4 * elector.timing.ttl + 5)
        except leaselect.BackendUnavailable:
            lease = None
        if lease is not None:
            return lease
        worker.signal(signal.SIGCONT)
    raise AssertionError("B was never elected while A was stopped")


def test_a_resumed_old_leader_is_fenced(
    store: Store, store_url: str, election: str, tmp_path: Path, worker: Worker
) -> None:
    ready = worker.event(30)
    assert ready["event"] == "ready", ready
    backend = leaselect.connect(store_url)
    b = leaselect.Elector(backend, election, ttl=store.fast_ttl, identity="B")
    try:
        lease = elect_b_while_a_is_stopped(worker, b)
        assert lease.token > ready["token"]
        value = fenced_value(store.kind, store_url, backend, election, str(tmp_path))
        assert value.read() == "A"
        value.write(value.prepare(lease), "B")
        worker.signal(signal.SIGCONT)
        worker.go()
        answer = worker.event(30)
        assert answer["event"] == "stale", answer
        if store.kind != "zookeeper":  # ZooKeeper's multi cannot say who leads instead
            assert answer["newest"] == lease.token
        assert value.read() == "B"
        assert worker.proc.wait(30) == 0
    finally:
        b.close()
        backend.close()


def test_the_fencing_example_runs(store: Store, store_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"fencing_{store.kind}.py"), store_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"A's late write rejected.*is stale", done.stdout), done.stdout


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(require_url("redis"))
    yield client
    client.close()


def test_redis_tokens_compare_exactly_beyond_doubles(redis_client: redis.Redis) -> None:
    fence, key = RedisFence(redis_client), f"fence:{os.urandom(6).hex()}"
    big = 2**60  # 2**60 and 2**60 + 1 are one double: a numeric comparison would pass both
    fence.write(key, big + 1, "B", ("ECHO", "b"))
    with pytest.raises(StaleToken) as stale:
        fence.write(key, big, "A", ("ECHO", "a"))
    assert stale.value.newest == big + 1
    with pytest.raises(StaleToken):
        fence.write(key, big + 1, "A", ("ECHO", "a"))  # the newest token, another holder
    assert fence.write(key, big + 1, "B", ("ECHO", "again")) == b"again"
    assert fence.newest(key) == big + 1
    redis_client.delete(key)


def test_redis_a_failing_command_leaves_the_fence_unchanged(redis_client: redis.Redis) -> None:
    fence, key = RedisFence(redis_client), f"fence:{os.urandom(6).hex()}"
    data = f"{key}:data"
    fence.write(key, 5, "A", ("SET", data, "x"), keys=[data])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        fence.write(key, 7, "B", ("RPUSH", data, "y"), keys=[data])
    assert fence.newest(key) == 5
    redis_client.delete(key, data)


def test_zookeeper_a_failing_operation_applies_nothing(election: str) -> None:
    backend = leaselect.connect(require_url("zookeeper"))
    elector = leaselect.Elector(backend, election, ttl=2.0)
    try:
        lease = elector.acquire(timeout=10)
        assert lease is not None
        fence, path = ZooKeeperFence(backend), f"/leaselect-fenced/{election}"
        client = backend.conn.client()  # type: ignore[attr-defined]
        client.ensure_path("/leaselect-fenced")
        fence.write(lease, lambda txn: txn.create(path, b"1"))
        with pytest.raises(BadVersionError):
            fence.write(
                lease, lambda txn: (txn.set_data(path, b"2"), txn.set_data(path, b"3", version=9))
            )
        assert client.get(path)[0] == b"1"
        elector.release()
        with pytest.raises(StaleToken):
            fence.guard(lease)
        client.delete(path)
    finally:
        elector.close()
        backend.close()
