"""A leader watch through a Redis crash, on the real server of ``backends/launch.py``: a change
that happens while the watch's connection is down is reported once the store answers again.

The test leaves Redis running again, with its default configuration.
"""

from __future__ import annotations

import time

import pytest

import leaselect
from backends.testbed import control
from tests.support.stores import require_url
from tests.support.watching import Recorder, led_by, nobody

pytestmark = pytest.mark.slow


def test_redis_crash_the_lost_lease_and_the_next_leader_are_reported(
    timing_lock: None, restarted: list[str], name: str
) -> None:
    url = require_url("redis")
    recorder = Recorder(url, name)
    holder = leaselect.Elector(url, name, ttl=3.0, identity="a")
    try:
        assert holder.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=5)
        restarted.append("redis")
        control.restart_redis("off", kill=True)  # comes back empty: the lease is gone
        recorder.expect(nobody, within=5)
        holder.close()
        successor = leaselect.Elector(url, name, ttl=3.0, identity="b")
        try:
            assert successor.acquire(timeout=10) is not None
            elected = time.monotonic()
            assert recorder.expect(led_by("b"), within=2) - elected < 0.5  # pushed, not timed
        finally:
            successor.close()
    finally:
        holder.close()
        recorder.close()
        control.restart_redis("everysec")
        restarted.clear()
