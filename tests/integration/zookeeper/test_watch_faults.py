"""A leader watch through an expired ZooKeeper session, on the real ensemble of
``backends/launch.py``: a change that happens while the watch's connection is down is reported
once the store answers again.

The test leaves every member running again.
"""

from __future__ import annotations

import time

import pytest

import leaselect
from backends.testbed import topology
from tests.support.servers import launch_cli
from tests.support.stores import require_url
from tests.support.watching import Recorder, led_by

pytestmark = pytest.mark.slow


def test_zookeeper_a_watch_whose_session_expired_reports_what_changed_meanwhile(
    timing_lock: None, restarted: list[str], name: str
) -> None:
    url = require_url("zookeeper")
    only = f"zk://127.0.0.1:{topology.get_member('zookeeper-1').port}"
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
