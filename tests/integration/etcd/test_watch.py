"""etcd: a waiter's watch on a member that lost its leader ends instead of stalling.

On the real cluster of ``backends/launch.py``: two of the three members are killed, so the one
the watch is open on has no leader (as a member cut off from its peers has none); they are
started again afterwards. Serialised with the benchmark lock.
"""

from __future__ import annotations

import threading

import pytest

import leaselect
from backends.testbed.topology import get_member
from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.etcd.watch import DeleteWatch
from leaselect.clock import SYSTEM_CLOCK
from tests.support.servers import launch_cli
from tests.support.stores import require_url


@pytest.mark.slow
def test_a_watch_on_a_member_without_a_leader_ends_within_a_few_election_timeouts(
    timing_lock: None, restarted: list[str]
) -> None:
    """The watch asks etcd to require a leader (gRPC metadata ``hasleader``): etcd cancels it
    about 3 election timeouts after the member loses its leader, and the waiter campaigns
    through another endpoint. Main: the watch stalled silently until its own timeout (15 s)."""
    require_url("etcd")
    port = get_member("etcd-1").port
    backend = leaselect.connect(f"etcd://127.0.0.1:{port}")
    assert isinstance(backend, EtcdBackend)
    watch = DeleteWatch(backend.transport)
    revision = int(backend.post("kv/range", {"key": "eg=="})["header"]["revision"])
    ended: list[bool] = []

    def wait() -> None:
        watch.wait("/no-such-key", revision + 1, 15.0)
        ended.append(True)

    thread = threading.Thread(target=wait, daemon=True)
    try:
        thread.start()
        threading.Event().wait(0.5)  # the watch is open on etcd-1
        for member in ("etcd-2", "etcd-3"):
            launch_cli("kill", member)
            restarted.append(member)
        cut = SYSTEM_CLOCK.now()
        thread.join(14.0)
        took = SYSTEM_CLOCK.now() - cut
        assert ended, "the watch on a leaderless member stalled"
        assert took < 8.0, f"the watch ended {took:.1f}s after its member lost its leader"
    finally:
        watch.interrupt()
        thread.join(5)
        backend.close()
