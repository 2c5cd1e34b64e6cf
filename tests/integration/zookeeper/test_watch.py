"""A ZooKeeper leader watch on a backend whose client is replaced under it: a watch started
first opens an observer session; an elector on the same backend then restarts the client with
its own session timeout, and the watch's child watches are set again on the new client."""

from __future__ import annotations

import uuid

import leaselect
from leaselect.backends.zookeeper import ZooKeeperBackend
from tests.support.stores import require_url
from tests.support.watching import Recorder, led_by, nobody


def test_a_watch_survives_the_client_restart_an_elector_causes() -> None:
    backend = leaselect.connect(require_url("zookeeper"))
    assert isinstance(backend, ZooKeeperBackend)
    name = f"zw-{uuid.uuid4().hex[:10]}"
    recorder = Recorder(backend, name)
    try:
        recorder.expect(nobody, within=5)
        observer = backend.conn.current()
        elector = leaselect.Elector(backend, name, ttl=2.0, identity="a")
        try:
            assert elector.acquire(timeout=10) is not None
            assert backend.conn.current() is not observer  # the client was replaced
            recorder.expect(led_by("a"), within=3)
            elector.release()
            recorder.expect(nobody, within=3)
        finally:
            elector.close()
    finally:
        recorder.close()
        backend.close()
