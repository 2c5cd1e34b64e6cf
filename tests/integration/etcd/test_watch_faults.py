"""A leader watch through an etcd member's death, on the real cluster of ``backends/launch.py``:
a change that happens while the watch's connection is down is reported once the store answers
again.

The test leaves every member running again.
"""

from __future__ import annotations

import pytest

import leaselect
from backends.testbed import topology
from leaselect.backends.etcd import EtcdBackend
from tests.support.servers import launch_cli
from tests.support.stores import require_url
from tests.support.watching import Recorder, led_by

pytestmark = pytest.mark.slow


def test_etcd_the_member_of_the_watch_stream_dies_and_the_change_is_still_reported(
    timing_lock: None, restarted: list[str], name: str
) -> None:
    url = require_url("etcd")
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
            m for m in ("etcd-1", "etcd-2", "etcd-3") if topology.get_member(m).port == port
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
