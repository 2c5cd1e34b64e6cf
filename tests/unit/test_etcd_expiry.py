"""ExpiryProbe against a simulated etcd primary: truncated answers, renewals, network delay."""

from __future__ import annotations

import itertools
import random

import pytest

from leaselect.backends.etcd import EtcdBackend, EtcdSession
from leaselect.backends.etcd.expiry import MIN_GRANTED, ExpiryProbe
from leaselect.backends.etcd.transport import Transport
from leaselect.errors import BackendUnavailable
from leaselect.urls import parse


class Primary:
    """One lease as etcd's primary keeps it: renewals only before expiry, a 500 ms revoke loop."""

    def __init__(self, granted: int, renewals: list[float]) -> None:
        self.granted = granted
        self.renewals = renewals
        self.expiry = self.expiry_at(float("inf"))
        self.revoked_at = self.expiry + 0.5

    def expiry_at(self, at: float) -> float:
        """The expiry as the primary knows it at time ``at`` (granted at time 0)."""
        expiry = float(self.granted)
        for renewal in self.renewals:
            if renewal <= at and renewal < expiry:  # an expired lease is never renewed
                expiry = renewal + self.granted
        return expiry

    def answer(self, at: float) -> int:
        if at >= self.revoked_at:
            return -1
        return int(self.expiry_at(at) - at)  # Go's int64(Remaining().Seconds()) truncates


def run(probe: ExpiryProbe, primary: Primary, rng: random.Random, rtt: float) -> tuple[float, int]:
    """Probe until expiry is declared; the time it acts and the number of probes."""
    now, probes = 0.0, 0
    while not probe.expired:
        due = probe.next_probe(now)
        assert due is not None and probes < 500
        now = max(now, due)
        handled = now + rng.uniform(0, rtt / 2)
        received = handled + rng.uniform(0, rtt / 2)
        probe.observe(now, received, primary.answer(handled))
        now, probes = received, probes + 1
    return now, probes


@pytest.mark.parametrize("seed", range(300))
def test_expiry_is_declared_only_after_it_happened_and_soon_after(seed: int) -> None:
    rng = random.Random(seed)
    granted = rng.choice([3, 4, 5, 10, 15])
    crash = rng.uniform(0, 4 * granted)
    every = granted / 3
    renewals = [k * every + rng.uniform(0, 0.05) for k in range(1, int(crash / every) + 1)]
    primary = Primary(granted, [r for r in renewals if r < crash])
    acted, probes = run(ExpiryProbe(granted), primary, rng, rtt=rng.choice([0.001, 0.01, 0.05]))
    assert acted > primary.expiry, "declared expired before etcd's primary saw it expire"
    assert acted - primary.expiry < 0.15
    assert probes <= 3 * crash / granted + 25  # one per renewal or less, <= 20 at the end


@pytest.mark.parametrize("seed", range(300))
def test_irregular_renewals_never_fool_it(seed: int) -> None:
    rng = random.Random(seed)
    granted = rng.choice([3, 4, 6])
    renewals, at = [], 0.0
    for _ in range(rng.randrange(1, 30)):  # each renewal just in time or early, at random
        at += rng.uniform(0.01, granted * 0.97)
        renewals.append(at)
    primary = Primary(granted, renewals)
    acted, _ = run(ExpiryProbe(granted), primary, rng, rtt=rng.choice([0.001, 0.02, 0.2]))
    assert acted > primary.expiry, "declared expired before etcd's primary saw it expire"


def test_a_renewal_between_the_two_zero_answers_is_not_missed() -> None:
    probe = ExpiryProbe(3)
    probe.observe(10.0, 10.01, 0)  # E < 11.01
    probe.observe(11.05, 11.06, 2)  # renewed at ~10.9: alive again
    assert not probe.expired and probe.zero is None
    probe.observe(12.2, 12.21, 1)
    assert not probe.expired


def test_zero_answers_too_far_apart_prove_nothing() -> None:
    probe = ExpiryProbe(3)
    probe.observe(10.0, 10.01, 0)
    probe.observe(12.5, 12.51, 0)  # a renewal at 10.2 would also read 0 here
    assert not probe.expired
    probe.observe(13.6, 13.61, 0)  # 1.1 s after the new first zero: now it is proven
    assert probe.expired


def test_short_leases_and_unknown_leases_are_left_to_etcd() -> None:
    assert ExpiryProbe(MIN_GRANTED - 1).next_probe(0.0) is None
    probe = ExpiryProbe(5)
    probe.observe(0.0, 0.01, -1)
    assert probe.gone and probe.next_probe(0.0) is None


# -- what a keep-alive reply says about the lease -------------------------------------------
# Replies as etcd 3.4's gateway sends them (HTTP 200): a renewal; a lease etcd no longer knows
# (TTL 0, which the JSON omits); a stream error reported inside the 200 body.
RENEWED = {"result": {"header": {"revision": "7"}, "ID": "42", "TTL": "5"}}
UNKNOWN = {"result": {"header": {"revision": "7"}, "ID": "42"}}
STREAM_ERROR = {"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader"}}
NOT_FOUND = {"error": {"grpc_code": 5, "message": "etcdserver: requested lease not found"}}


@pytest.mark.parametrize(
    ("reply", "ttl", "forgotten"),
    [
        (RENEWED, 5.0, False),
        (UNKNOWN, 0.0, True),
        (STREAM_ERROR, None, False),
        (NOT_FOUND, 0.0, True),
    ],
)
def test_a_keep_alive_reply_without_a_result_is_a_failure_not_a_lost_lease(
    monkeypatch: pytest.MonkeyPatch, reply: dict[str, object], ttl: float | None, forgotten: bool
) -> None:
    """Main read any reply without ``result.TTL`` as "lease gone": a stream error made every
    leader of the session step down and every waiter re-register."""
    backend = EtcdBackend(Transport(parse("etcd://127.0.0.1:1")))
    session = backend.session(5.0)
    assert isinstance(session, EtcdSession)
    grants = itertools.count(42)
    monkeypatch.setattr(backend, "post", lambda path, body: {"ID": str(next(grants)), "TTL": "5"})
    lease, _, _ = session.lease(0.0)
    monkeypatch.setattr(backend, "post", lambda path, body: reply)
    if ttl is None:
        with pytest.raises(BackendUnavailable, match="no leader"):
            session.refresh(lease, 1.0)
    else:
        assert session.refresh(lease, 1.0) == ttl
    monkeypatch.setattr(backend, "post", lambda path, body: {"ID": str(next(grants)), "TTL": "5"})
    assert (session.lease(2.0)[0] != lease) is forgotten
    backend.close()
