"""Celery beat on the leader only, with real ``celery beat`` processes and the real Redis of
``backends/launch.py`` as broker and store: three beats, a 1 s periodic task, the messages
counted per slot from the broker's queue. Faults: kill -9 of the leading beat, SIGSTOP past the
TTL then SIGCONT, a graceful stop (SIGTERM); a real worker reads the fencing token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

import leaselect
from tests.support.stores import require_url

ROOT = Path(__file__).resolve().parents[2]
TTL = 3.0

pytestmark = pytest.mark.slow


class Beats:
    """Beat processes of one test, their queue and their election."""

    def __init__(self, store_url: str) -> None:
        tag = uuid.uuid4().hex[:8]
        base = store_url.rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            "BEAT_BROKER_URL": f"{base}/7",
            "BEAT_QUEUE": f"beat-q-{tag}",
            "BEAT_STORE_URL": store_url,
            "BEAT_ELECTION": f"beat-{tag}",
            "BEAT_TTL": str(TTL),
            "BEAT_RESULTS": f"beat-r-{tag}",
        }
        self.broker = redis.Redis.from_url(self.env["BEAT_BROKER_URL"])
        self.store = leaselect.connect(store_url)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.jobs.celery_app", *command],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self.start("beat", "-S", "leaselect.integrations.celery:LeaderScheduler")

    def leader_pid(self, other_than: int | None = None, within: float = 20) -> int:
        """The pid of the leading beat (from its identity host:pid:random)."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            leader = self.store.observe(self.env["BEAT_ELECTION"])
            if leader is not None:
                pid = int(leader.identity.split(":")[1])
                if pid != other_than:
                    return pid
            time.sleep(0.05)
        raise AssertionError("no (new) leading beat")

    def proc(self, pid: int) -> subprocess.Popen[bytes]:
        return next(p for p in self.procs if p.pid == pid)

    def sent(self) -> list[dict[str, Any]]:
        """The headers of every message in the queue, oldest first."""
        raw = self.broker.lrange(self.env["BEAT_QUEUE"], 0, -1)
        return [json.loads(message)["headers"] for message in reversed(raw)]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait()
        self.broker.delete(self.env["BEAT_QUEUE"], self.env["BEAT_RESULTS"])
        self.broker.close()
        self.store.close()


@pytest.fixture
def beats() -> Iterator[Beats]:
    group = Beats(require_url("redis"))
    yield group
    group.close()


def slot_seconds(headers: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(headers["leaselect_slot"]).timestamp())


def check_slots(sent: list[dict[str, Any]], gaps: list[tuple[float, float]]) -> list[int]:
    """No slot twice; every slot from the first to the last present except inside ``gaps``
    (wall-clock (fault, new leader elected) pairs); tokens never go back; the missing slots."""
    counts = Counter(slot_seconds(headers) for headers in sent)
    twice = sorted(slot for slot, count in counts.items() if count > 1)
    assert not twice, f"slots sent twice: {twice}"
    slots = sorted(counts)
    missing = [s for s in range(slots[0], slots[-1] + 1) if s not in counts]
    for slot in missing:
        assert any(start - 1 <= slot <= end for start, end in gaps), (slot, gaps, slots)
    tokens = [headers["leaselect_token"] for headers in sorted(sent, key=slot_seconds)]
    assert tokens == sorted(tokens), "a later slot carries an older token"
    return missing


def test_three_beats_send_each_slot_once_through_kill_stop_and_graceful_stop(beats: Beats) -> None:
    for _ in range(3):
        beats.start_beat()
    first = beats.leader_pid()
    time.sleep(4)
    gaps: list[tuple[float, float]] = []

    killed = time.time()
    beats.proc(first).kill()
    second = beats.leader_pid(other_than=first)
    gaps.append((killed, time.time()))
    time.sleep(3)

    stopped = time.time()
    os.kill(second, signal.SIGSTOP)
    third = beats.leader_pid(other_than=second)
    gaps.append((stopped, time.time()))
    time.sleep(TTL + 1)
    os.kill(second, signal.SIGCONT)  # resumes past its deadline: it must send nothing
    time.sleep(3)

    leaving = time.time()
    beats.proc(third).send_signal(signal.SIGTERM)
    assert beats.proc(third).wait(15) == 0
    fourth = beats.leader_pid(other_than=third)
    assert fourth == second  # the one that was stopped is the only one left
    gaps.append((leaving, time.time()))
    time.sleep(3)

    sent = beats.sent()
    assert len(sent) >= 15
    missing = check_slots(sent, gaps)
    graceful = [s for s in missing if s >= int(leaving) - 1]
    assert len(graceful) <= 1, f"a graceful hand-over lost {graceful}"
    assert len({headers["leaselect_token"] for headers in sent}) == 4  # four tenures


def test_a_worker_gets_the_fencing_token_and_the_slot(beats: Beats) -> None:
    beats.start_beat()
    leader = beats.leader_pid()
    beats.start("worker", "--pool", "solo", "--concurrency", "1", "-Q", beats.env["BEAT_QUEUE"])
    key = beats.env["BEAT_RESULTS"]
    end = time.monotonic() + 30
    while beats.broker.llen(key) < 2 and time.monotonic() < end:
        time.sleep(0.1)
    records = [json.loads(r) for r in beats.broker.lrange(key, 0, -1)]
    assert len(records) >= 2, records
    leading = beats.store.observe(beats.env["BEAT_ELECTION"])
    assert leading is not None and int(leading.identity.split(":")[1]) == leader
    assert {r["token"] for r in records} == {leading.token}
    assert all(r["slot"] and r["slot"].endswith("+00:00") for r in records)
