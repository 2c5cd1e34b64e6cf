"""``Backend.advance_mark``: the fenced, rising register ``LeaderScheduler`` keeps per job."""

from __future__ import annotations

import threading
import uuid

import pytest

import leaselect
from tests.support.jobs import JobStore

pytestmark = pytest.mark.timeout(60)


def test_a_mark_only_rises_and_refuses_superseded_tokens(job_store: JobStore) -> None:
    name, mark = f"mark-{uuid.uuid4().hex[:8]}", "job.tick"
    with leaselect.connect(job_store.url) as backend:
        assert backend.advance_mark(name, mark, 100, 1)
        assert not backend.advance_mark(name, mark, 100, 1)  # the same fire time: once
        assert not backend.advance_mark(name, mark, 90, 2)  # never down, even for a newer token
        assert backend.advance_mark(name, mark, 110, 2)
        assert not backend.advance_mark(name, mark, 120, 1)  # a superseded tenure: refused
        assert backend.advance_mark(name, "job.other", 5, 1)  # marks are independent
        assert backend.advance_mark(f"{name}x", mark, 5, 1)  # and per election


def test_racing_writers_admit_each_value_once(job_store: JobStore) -> None:
    """Four connections race to raise one mark through 30 values: each value wins once."""
    name, won = f"mark-{uuid.uuid4().hex[:8]}", []
    backends = [leaselect.connect(job_store.url) for _ in range(4)]

    def race(backend: leaselect.Backend) -> None:
        for value in range(1, 31):
            if backend.advance_mark(name, "job.race", value, 1):
                won.append(value)

    threads = [threading.Thread(target=race, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(50)
    for backend in backends:
        backend.close()
    assert sorted(won) == sorted(set(won)) and won, won
