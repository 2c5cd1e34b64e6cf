"""The election state machine, driven with explicit times (no clock, no threads)."""

from __future__ import annotations

import pytest

from leaselect import LostReason, Timing
from leaselect.machine import Elected, ElectionMachine, Jeopardy, Lost, Phase, Recovered

TIMING = Timing(ttl=9.0, drift=0.0, margin=1.0)  # renew every 3 s, deadline = sent + 8 s


def leader(sent: float = 100.0) -> ElectionMachine:
    machine = ElectionMachine("job", "me", TIMING)
    [effect] = machine.elected(token=7, granted_ttl=9.0, sent=sent, now=sent + 0.01)
    assert isinstance(effect, Elected) and effect.lease.token == 7
    return machine


def test_a_leader_stops_leading_exactly_at_its_deadline() -> None:
    machine = leader()
    assert machine.is_leader(107.999)
    assert not machine.is_leader(108.0)
    [lost] = machine.tick(108.0)  # no renewal since 100: overdue, so unreachable
    assert isinstance(lost, Lost) and lost.reason is LostReason.UNREACHABLE
    assert machine.phase is Phase.FOLLOWER


def test_renewal_moves_the_deadline_to_its_own_send_time() -> None:
    machine = leader()
    assert machine.renewed(granted_ttl=9.0, sent=103.0, now=103.2) == []
    assert machine.lease is not None and machine.lease.deadline == 111.0


def test_a_stale_renewal_never_extends_the_lease() -> None:
    machine = leader(sent=100.0)
    machine.renewed(9.0, sent=103.0, now=103.1)
    machine.renewed(9.0, sent=102.0, now=103.5)
    assert machine.lease is not None and machine.lease.deadline == 111.0


def test_failed_renewals_mean_jeopardy_then_unreachable_at_the_deadline() -> None:
    machine = leader()
    [jeopardy] = machine.renew_failed(now=103.1)
    assert isinstance(jeopardy, Jeopardy) and machine.phase is Phase.JEOPARDY
    assert machine.renew_failed(now=104.0) == []
    assert machine.is_leader(107.9)
    [lost] = machine.tick(108.0)
    assert isinstance(lost, Lost) and lost.reason is LostReason.UNREACHABLE


def test_a_failed_round_sent_before_the_tenure_began_is_no_jeopardy() -> None:
    """The keeper's round for a waiting candidacy failed (the store was locked) and its
    failure arrived just after the campaign won: it says nothing about the new tenure."""
    machine = leader(sent=100.0)  # elected at now=100.01
    assert machine.renew_failed(now=100.2, sent=99.5) == []
    assert machine.phase is Phase.LEADER
    [jeopardy] = machine.renew_failed(now=100.4, sent=100.2)
    assert isinstance(jeopardy, Jeopardy)


def test_recovery_from_jeopardy() -> None:
    machine = leader()
    machine.renew_failed(now=103.1)
    [recovered] = machine.renewed(9.0, sent=104.0, now=104.1)
    assert isinstance(recovered, Recovered) and machine.phase is Phase.LEADER


def test_an_overdue_renewal_is_jeopardy_even_without_a_failure() -> None:
    machine = leader(sent=100.0)  # renew every 3 s: overdue at 104.5
    assert machine.tick(104.4) == []
    [jeopardy] = machine.tick(104.5)
    assert isinstance(jeopardy, Jeopardy)
    assert machine.next_wakeup() == 108.0


def test_taken_ends_the_tenure_but_not_for_a_request_older_than_the_tenure() -> None:
    machine = leader(sent=100.0)
    assert machine.taken(sent=99.0, now=100.5) == []
    [lost] = machine.taken(sent=101.0, now=101.1)
    assert isinstance(lost, Lost) and lost.reason is LostReason.TAKEN


@pytest.mark.parametrize("end", ["released", "taken", "tick", "renewed-late"])
def test_exactly_one_lost_per_tenure(end: str) -> None:
    machine = leader(sent=100.0)
    effects = {
        "released": lambda: machine.released(101.0),
        "taken": lambda: machine.taken(101.0, 101.0),
        "tick": lambda: machine.tick(200.0),
        "renewed-late": lambda: machine.renewed(9.0, sent=150.0, now=200.0),
    }[end]()
    later = machine.released(300.0) + machine.tick(400.0) + machine.taken(500.0, 500.0)
    assert [type(e) for e in effects] == [Lost] and later == []


def test_no_lost_without_elected() -> None:
    machine = ElectionMachine("job", "me", TIMING)
    assert machine.released(1.0) == [] and machine.tick(1e9) == []
    assert machine.renew_failed(5.0) == [] and machine.taken(5.0, 5.0) == []


def test_a_grant_that_arrives_after_its_deadline_elects_nobody() -> None:
    machine = ElectionMachine("job", "me", TIMING)
    assert machine.elected(token=1, granted_ttl=9.0, sent=100.0, now=108.0) == []
    assert machine.phase is Phase.FOLLOWER and not machine.is_leader(108.0)


def test_a_lost_lease_object_reports_the_end_as_its_deadline() -> None:
    machine = leader(sent=100.0)
    lease = machine.lease
    machine.released(101.5)
    assert lease is not None and lease.deadline == 101.5
