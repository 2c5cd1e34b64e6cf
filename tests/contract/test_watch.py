"""``leaselect.watch`` and ``on_new_leader`` against every real store: each change of the leader
reported as the store pushes it (a hand-over, a release, a killed holder's expiry), and a quiet
election not read more often than its lease expires."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import leaselect
from leaselect.lease import Leader
from tests.support.contenders import read_event, spawn
from tests.support.stores import Store
from tests.support.watching import Recorder, led_by, nobody


def test_a_watch_reports_the_leader_each_hand_over_and_the_release(
    store: Store, store_url: str, election: str
) -> None:
    ttl = 3.0  # a lease read at its expiry would come seconds after the push
    recorder = Recorder(store_url, election)
    a = leaselect.Elector(store_url, election, ttl=ttl, identity="a")
    b = leaselect.Elector(store_url, election, ttl=ttl, identity="b")
    try:
        recorder.expect(nobody, within=5)
        first = a.acquire(timeout=10)
        assert first is not None
        recorder.expect(led_by("a"), within=2)
        b.start()
        time.sleep(0.3)  # b waits in line
        released = time.monotonic()
        a.release()
        seen = recorder.expect(led_by("b"), within=2)
        assert seen - released < 0.5
        assert recorder.watch.current[election].token > first.token  # type: ignore[union-attr]
        released = time.monotonic()
        b.release()
        assert recorder.expect(nobody, within=2) - released < 0.5
    finally:
        a.close()
        b.close()
        recorder.close()


def test_a_killed_holder_is_reported_gone_when_its_lease_ends(
    store: Store, store_url: str, election: str
) -> None:
    ttl = store.fast_ttl
    holder = spawn(store_url, election, ttl, "hold")
    recorder = Recorder(store_url, election)
    try:
        read_event(holder, "elected")
        recorder.expect(lambda leader: leader is not None, within=5)
        holder.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        holder.wait()
        gone = recorder.expect(nobody, within=ttl + 5)
        assert gone - killed < ttl + 1.5  # the store's expiry, pushed or timed, not a poll
    finally:
        holder.kill()
        holder.wait()
        recorder.close()


def test_a_quiet_election_is_read_no_more_often_than_its_lease_expires(
    store: Store, store_url: str, election: str
) -> None:
    ttl = store.fast_ttl
    backend = leaselect.connect(store_url)
    reads: list[float] = []
    observe = backend.observe

    def counted(name: str) -> Leader | None:
        reads.append(time.monotonic())
        return observe(name)

    backend.observe = counted  # type: ignore[method-assign]
    leader = leaselect.Elector(store_url, election, ttl=ttl, identity="a")
    recorder = Recorder(backend, election)
    try:
        assert leader.acquire(timeout=10) is not None
        recorder.expect(led_by("a"), within=5)
        before = len(reads)
        time.sleep(3 * ttl)  # renewed all along
        quiet = len(reads) - before
        pushed = type(backend.leader_feed([election])).expiry_pushed
        assert quiet == 0 if pushed else quiet <= 6, (quiet, pushed)
        assert [c for _, c in recorder.changes][-1].leader.identity == "a"  # type: ignore[union-attr]
    finally:
        leader.close()
        recorder.close()
        backend.close()


def test_a_watch_of_several_elections_and_its_stop(store: Store, store_url: str) -> None:
    names = [f"w{i}-{time.monotonic_ns()}" for i in range(3)]
    recorder = Recorder(store_url, *names)
    electors = [leaselect.Elector(store_url, n, ttl=store.fast_ttl, identity=n) for n in names]
    try:
        for _ in names:
            recorder.expect(nobody, within=5)
        for elector in electors:
            assert elector.acquire(timeout=10) is not None
        for name in names:
            recorder.expect(led_by(name), within=2)
        stopped = time.monotonic()
        recorder.watch.stop()
        recorder._thread.join(2)
        assert time.monotonic() - stopped < 1.0
        assert not recorder._thread.is_alive()
    finally:
        for elector in electors:
            elector.close()
        recorder.close()
    assert not [t for t in threading.enumerate() if t.name == "leaselect-leader-feed"]


def test_on_new_leader_tells_each_elector_every_leader(
    store: Store, store_url: str, election: str
) -> None:
    seen: dict[str, list[str | None]] = {"a": [], "b": []}
    told = threading.Condition()

    def tell(who: str) -> Callable[[Leader | None], None]:
        def callback(leader: Leader | None) -> None:
            with told:
                seen[who].append(leader.identity if leader else None)
                told.notify_all()

        return callback

    a = leaselect.Elector(
        store_url, election, ttl=store.fast_ttl, identity="a", on_new_leader=tell("a")
    )
    b = leaselect.Elector(
        store_url, election, ttl=store.fast_ttl, identity="b", on_new_leader=tell("b")
    )
    try:
        assert a.acquire(timeout=10) is not None
        b.start()
        with told:
            assert told.wait_for(lambda: "a" in seen["a"] and "a" in seen["b"], 5), seen
        a.close()
        with told:
            assert told.wait_for(lambda: seen["b"][-1:] == ["b"], 5), seen
    finally:
        a.close()
        b.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("leaselect-leader-watch")]
