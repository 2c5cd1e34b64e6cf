"""The leader watch's own rules, on a fake clock and a scripted feed: reads only when hinted,
at a lease's expiry where expiry is not pushed, with backoff when the store fails."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from leaselect.backend import Backend, Session
from leaselect.errors import BackendUnavailable, ConfigError
from leaselect.leader_feed import RETRY_FIRST, LeaderFeed
from leaselect.lease import Leader
from leaselect.testing import FakeClock
from leaselect.urls import StoreUrl
from leaselect.watching import LeaderChange, LeaderWatch


class ScriptedFeed(LeaderFeed):
    """Hints from a script; a wait with nothing scripted lets the fake time pass."""

    def __init__(self, names: Sequence[str], clock: FakeClock, pushed: bool) -> None:
        super().__init__(names)
        self.expiry_pushed = pushed  # type: ignore[misc]
        self.clock = clock
        self.script: list[set[str]] = []
        self.waits: list[float] = []
        self.armed = False

    def wait(self, timeout: float) -> set[str]:
        self.waits.append(timeout)
        if not self.armed:
            self.armed = True
            return set(self.names)
        if self.script:
            return self.script.pop(0)
        self.clock.advance(timeout)
        return set()

    def _run(self) -> None:
        raise AssertionError("no thread")

    def _close(self) -> None:
        pass


class TableBackend(Backend):
    """A store that is a dict: name -> (identity, token, expires at) or an error to raise."""

    scheme = "table"

    def __init__(self, clock: FakeClock, pushed: bool = True) -> None:
        super().__init__()
        self.clock = clock
        self.pushed = pushed
        self.table: dict[str, tuple[str, int, float] | Exception] = {}
        self.reads: list[tuple[str, float]] = []
        self.feed: ScriptedFeed | None = None

    @classmethod
    def from_url(cls, url: StoreUrl) -> Backend:
        raise NotImplementedError

    def _open_session(self, ttl: float) -> Session:
        raise NotImplementedError

    def observe(self, name: str) -> Leader | None:
        self.reads.append((name, self.clock.now()))
        entry = self.table.get(name)
        if isinstance(entry, Exception):
            raise entry
        if entry is None or entry[2] <= self.clock.now():
            return None
        return Leader(entry[0], entry[1], "", entry[2] - self.clock.now())

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        self.feed = ScriptedFeed(names, self.clock, self.pushed)
        return self.feed


def leaders(changes: list[LeaderChange]) -> list[tuple[str, str | None]]:
    return [(c.name, c.leader.identity if c.leader else None) for c in changes]


def test_first_each_current_leader_then_only_hinted_changes() -> None:
    clock = FakeClock()
    store = TableBackend(clock)
    store.table["a"] = ("x", 1, clock.now() + 10)
    with LeaderWatch(store, ["a", "b"], clock=clock) as watch:
        assert leaders([next(watch), next(watch)]) == [("a", "x"), ("b", None)]
        assert store.feed is not None
        store.table["b"] = ("y", 2, clock.now() + 10)
        store.feed.script = [{"a"}, {"b"}]  # a spurious hint first: read, nothing reported
        assert leaders([next(watch)]) == [("b", "y")]
        assert [name for name, _ in store.reads] == ["a", "b", "a", "b"]
        assert watch.current["b"] == Leader("y", 2, "", 10.0)


def test_a_new_token_of_the_same_identity_is_a_change() -> None:
    clock = FakeClock()
    store = TableBackend(clock)
    store.table["a"] = ("x", 1, clock.now() + 10)
    with LeaderWatch(store, ["a"], clock=clock) as watch:
        next(watch)
        assert store.feed is not None
        store.table["a"] = ("x", 2, clock.now() + 10)
        store.feed.script = [{"a"}]
        change = next(watch)
        assert change.leader is not None and change.leader.token == 2


def test_where_expiry_is_not_pushed_the_lease_is_read_again_when_it_would_expire() -> None:
    clock = FakeClock()
    store = TableBackend(clock, pushed=False)
    start = clock.now()
    store.table["a"] = ("x", 1, start + 3)
    with LeaderWatch(store, ["a"], clock=clock) as watch:
        next(watch)
        store.table["a"] = ("x", 1, start + 5)  # renewed: read at 3, then again at 5
        change = next(watch)
        assert change.leader is None
        times = [round(at - start, 3) for _, at in store.reads]
        assert times == [0, 3.002, 5.002]


def test_where_expiry_is_pushed_nothing_is_read_without_a_hint() -> None:
    clock = FakeClock()
    store = TableBackend(clock, pushed=True)
    store.table["a"] = ("x", 1, clock.now() + 3)
    with LeaderWatch(store, ["a"], clock=clock, timeout=60) as watch:
        assert leaders(list(watch)) == [("a", "x")]
    assert len(store.reads) == 1


def test_a_failing_store_is_read_again_with_backoff_and_the_change_reported() -> None:
    clock = FakeClock()
    store = TableBackend(clock)
    store.table["a"] = BackendUnavailable("down")
    with LeaderWatch(store, ["a"], clock=clock) as watch:
        assert store.feed is not None
        feed = store.feed
        original = feed.wait

        def recover(timeout: float) -> set[str]:
            if len(store.reads) == 4:
                store.table["a"] = ("x", 7, clock.now() + 10)
            return original(timeout)

        feed.wait = recover  # type: ignore[method-assign]
        change = next(watch)
        assert change.leader is not None and change.leader.token == 7
        gaps = [round(b[1] - a[1], 3) for a, b in zip(store.reads, store.reads[1:], strict=False)]
        assert gaps == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST, 8 * RETRY_FIRST]


def test_the_timeout_ends_the_iteration_and_releases_the_feed() -> None:
    clock = FakeClock()
    store = TableBackend(clock)
    watch = LeaderWatch(store, ["a"], clock=clock, timeout=5)
    assert leaders(list(watch)) == [("a", None)]
    assert store.feed is not None and store.feed.closed
    assert clock.now() == pytest.approx(1005.0)


def test_stop_before_next_ends_it_at_once() -> None:
    clock = FakeClock()
    watch = LeaderWatch(TableBackend(clock), ["a"], clock=clock)
    watch.stop()
    assert list(watch) == []


@pytest.mark.parametrize(
    ("names", "message"),
    [([], "names must be"), ("jobs", "names must be"), (["a b"], "name")],
)
def test_bad_input_names_the_parameter(names: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LeaderWatch(TableBackend(FakeClock()), names, clock=FakeClock())  # type: ignore[arg-type]


def test_a_bad_timeout_names_the_parameter() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        LeaderWatch(TableBackend(FakeClock()), ["a"], timeout=-1)
