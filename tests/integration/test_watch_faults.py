"""Leader watches through server faults, on the real servers of ``backends/launch.py``: a change
that happens while the watch's connection is down is reported once the store answers again.

Every test leaves its servers running again (Redis with its default configuration).
"""

from __future__ import annotations

import time
import uuid

import pytest

import leaselect
from backends import launch
from leaselect.backends.etcd import EtcdBackend
from tests.support.servers import launch_cli
from tests.support.stores import require_url
from tests.support.watching import Recorder, led_by, nobody

pytestmark = pytest.mark.slow


def election() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def test_redis_crash_the_lost_lease_and_the_next_leader_are_reported(
    timing_lock: None, restarted: list[str]
) -> None:
    url, name = require_url("redis"), election()
    recorder = Recorder(url, name)
    holder = leaselect.Elector(url, name, ttl=3.0, identity="a")
    try:
        assert holder.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=5)
        restarted.append("redis")
        launch.restart_redis("off", kill=True)  # comes back empty: the lease is gone
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
        launch.restart_redis("everysec")
        restarted.clear()


def test_etcd_the_member_of_the_watch_stream_dies_and_the_change_is_still_reported(
    timing_lock: None, restarted: list[str]
) -> None:
    url, name = require_url("etcd"), election()
    watcher = leaselect.connect(url)
    assert isinstance(watcher, EtcdBackend)
    recorder = Recorder(watcher, name)
    a = leaselect.Elector(url, name, ttl=3.0, identity="a")
    b = leaselect.Elector(url, name, ttl=3.0, identity="b")
    try:
        assert a.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=5)
        port = watcher.transport.client.port
        member = next(
            m for m in ("etcd-1", "etcd-2", "etcd-3") if launch.get_member(m).port == port
        )
        restarted.append(member)
        launch_cli("kill", member)
        b.start()
        a.release()
        recorder.expect(led_by("b"), within=8)
        assert watcher.transport.client.port != port
    finally:
        a.close()
        b.close()
        recorder.close()
        watcher.close()


def test_zookeeper_a_watch_whose_session_expired_reports_what_changed_meanwhile(
    timing_lock: None, restarted: list[str]
) -> None:
    url, name = require_url("zookeeper"), election()
    only = f"zk://127.0.0.1:{launch.get_member('zookeeper-1').port}"
    recorder = Recorder(only, name)  # its session lives on zookeeper-1 alone
    a = leaselect.Elector(url, name, ttl=4.0, identity="a")
    b = leaselect.Elector(url, name, ttl=4.0, identity="b")
    try:
        assert a.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=5)
        restarted.append("zookeeper-1")
        launch_cli("kill", "zookeeper-1")
        b.start()
        a.release()
        assert b.acquire(timeout=10) is not None
        time.sleep(12)  # past the watch session's timeout (10 s): the session is gone
        launch_cli("start", "zookeeper-1")
        recorder.expect(led_by("b"), within=15)
    finally:
        a.close()
        b.close()
        recorder.close()
