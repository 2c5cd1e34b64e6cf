"""The ZooKeeper anchor rule against a simulated quorum leader and follower (fake clock).

The model follows ZooKeeper 3.8's code paths named in ``leaselect/backends/zookeeper/anchor.py``:
the leader queues a PING for the follower every tick/2 (up to tick/2 late); the follower handles
leader packets in order, answering each PING with the sessions touched since its last answer;
both directions are FIFO with random delays; the follower stops, dies or is cut off at a random
moment. The client runs touch / sync / write chains; whenever the rule accepts a chain, the
leader must have touched the session at or after the anchor.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

import pytest

from leaselect.backends.zookeeper.anchor import Answered, History, gap, proven

TICK = 0.2


class Channel:
    """A FIFO link with random delay; nothing is delivered after ``cut``."""

    def __init__(self, sim: Sim, delay: float) -> None:
        self.sim, self.delay, self.last = sim, delay, 0.0

    def send(self, at: float, deliver: Callable[[float], None]) -> None:
        arrive = max(self.last, at + self.sim.rng.uniform(0, self.delay))
        self.last = arrive
        if arrive < self.sim.cut:
            self.sim.at(arrive, deliver)


class Sim:
    """One leader, one follower F (failing at ``cut``), one client session."""

    def __init__(self, rng: random.Random, cut: float, late: float) -> None:
        self.rng, self.cut = rng, cut
        self.events: list[tuple[float, int, Callable[[float], None]]] = []
        self.seq = itertools.count()
        self.to_f = Channel(self, 0.02)
        self.to_leader = Channel(self, 0.02)
        self.client_link = 0.005
        self.touched_since_ping = False
        self.leader_touches: list[float] = []
        ping = 0.0
        while ping < cut + 5:
            ping += TICK / 2 + rng.uniform(0, late)
            self.at(ping, self._leader_pings)

    def at(self, when: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self.events, (when, next(self.seq), action))

    def run_until(self, until: float) -> None:
        while self.events and self.events[0][0] <= until:
            when, _, action = heapq.heappop(self.events)
            action(when)

    def _leader_pings(self, now: float) -> None:
        self.to_f.send(now, self._f_ping)

    def _f_ping(self, now: float) -> None:
        listed, self.touched_since_ping = self.touched_since_ping, False
        self.to_leader.send(now, lambda t: self.leader_touches.append(t) if listed else None)

    def request(self, sent: float, kind: str, done: Callable[[float], None]) -> None:
        """The client sends ``kind`` (touch, sync, write) to F at ``sent``."""
        arrive = sent + self.rng.uniform(0, self.client_link)
        if arrive >= self.cut:
            return

        def answer(now: float) -> None:
            if now < self.cut:
                self.at(now + self.rng.uniform(0, self.client_link), done)

        def at_f(now: float) -> None:
            self.touched_since_ping = True
            if kind == "touch":
                answer(now)
                return
            # forwarded; the leader answers with SYNC / COMMIT through the same queue as PINGs
            self.to_leader.send(now, lambda t: self.to_f.send(t + 0.001, answer))

        self.at(arrive, at_f)


def chain(sim: Sim, start: float, wait: float) -> tuple[Answered, Answered, Answered] | None:
    """touch, then sync ``wait`` after its answer, then write; None if any went unanswered."""
    results: list[Answered] = []

    def step(kind: str, sent: float) -> None:
        def done(now: float) -> None:
            results.append(Answered(1, sent, now))
            if kind == "touch":
                step("sync", now + wait)
            elif kind == "sync":
                step("write", now)

        sim.at(sent, lambda _now: sim.request(sent, kind, done))

    step("touch", start)
    sim.run_until(start + 10)
    return (results[0], results[1], results[2]) if len(results) == 3 else None


def unsafe_chains(tick: float, trials: int, seed: int) -> int:
    """Chains accepted by the rule for ``tick`` whose anchor the leader never touched after."""
    rng = random.Random(seed)
    bad = 0
    for _ in range(trials):
        start = rng.uniform(1, 2)
        sim = Sim(rng, cut=start + rng.uniform(0, 3 * TICK), late=TICK / 2)
        sim.run_until(start)
        found = chain(sim, start, gap(tick))
        if found is None:
            continue
        anchor = proven(*found, tick=tick)
        if anchor is not None and not any(t >= anchor for t in sim.leader_touches):
            bad += 1
    return bad


@pytest.mark.parametrize("seed", range(20))
def test_an_accepted_chain_means_the_leader_touched_the_session_after_the_anchor(
    seed: int,
) -> None:
    assert unsafe_chains(TICK, 200, seed) == 0


def test_the_model_finds_the_bug_when_the_sync_comes_too_soon() -> None:
    """With no gap (as good as the old rule: any answer counts) or half of it, the model finds
    unsafe anchors: the test can fail."""
    assert sum(unsafe_chains(0.0, 200, seed) for seed in range(5)) > 0
    assert sum(unsafe_chains(TICK / 4, 200, seed) for seed in range(5)) > 0


def test_proven_needs_one_connection_the_gap_and_the_order() -> None:
    touch = Answered(1, 10.0, 10.01)
    sync = Answered(1, 10.01 + gap(TICK), 10.3)
    write = Answered(1, 10.3, 10.31)
    assert proven(touch, sync, write, TICK) == 10.0
    assert proven(touch, Answered(1, 10.2, 10.3), write, TICK) is None  # too soon
    assert proven(touch, sync, Answered(1, 10.29, 10.31), TICK) is None  # before sync's answer
    assert proven(touch, sync, Answered(2, 10.3, 10.31), TICK) is None  # another connection


def test_history_picks_the_latest_request_answered_in_time_on_the_connection() -> None:
    history = History(keep=3)
    for answered in (Answered(1, 1.0, 1.1), Answered(1, 2.0, 2.1), Answered(2, 3.0, 3.1)):
        history.add(answered)
    assert history.latest(1, received_by=2.05) == Answered(1, 1.0, 1.1)
    assert history.latest(1, received_by=5.0) == Answered(1, 2.0, 2.1)
    assert history.latest(2, received_by=3.0) is None
    history.add(Answered(2, 4.0, 4.1))
    history.add(Answered(2, 5.0, 5.1))
    assert history.latest(1, received_by=5.0) is None  # forgotten beyond ``keep``


def test_history_reaches_back_a_proof_gap_under_a_burst_of_answers() -> None:
    """A thousand campaigns answered 1 ms apart: a request answered a gap ago is still there
    (without the spacing the last 64 entries span 64 ms and every campaign waited a tick)."""
    history = History()
    for i in range(1000):
        at = i / 1000
        history.add(Answered(1, at - 0.002, at), spacing=TICK / 16)
    now = 0.999
    found = history.latest(1, received_by=now - gap(TICK))
    assert found is not None
    assert now - gap(TICK) - found.received < TICK / 16 + 0.001
    assert history.latest(1, received_by=now) == Answered(1, now - 0.002, now)
