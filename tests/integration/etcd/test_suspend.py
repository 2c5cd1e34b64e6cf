"""etcd: the waiter's expiry proof keeps counting through a host suspend.

A suspend cannot be produced in a test; what it does to ``CLOCK_MONOTONIC`` can: that clock
stops while the host sleeps (and with it every timeout the process waits on), while the lease
timers of etcd (another host) keep running. Here the ``time`` module the candidacy, its
predecessor wait and its watch see has a ``monotonic()`` that stands still for a while, and the
test renews the leader's lease by hand exactly as a live leader would.
"""

from __future__ import annotations

import os
import time
import types

import pytest

import leaselect
from leaselect.backends.etcd import EtcdBackend, candidacy, predecessor, watch
from leaselect.backends.etcd.transport import b64

GRANTED = 5  # the leader's lease TTL, seconds


class SuspendedMonotonic:
    """``time.monotonic`` that stops for ``length`` seconds from ``start`` (real monotonic)."""

    def __init__(self, start: float, length: float) -> None:
        self.start, self.length = start, length

    def monotonic(self) -> float:
        real = time.monotonic()
        return real - min(max(real - self.start, 0.0), self.length)


@pytest.fixture
def backend(etcd_backend: EtcdBackend) -> EtcdBackend:
    return etcd_backend


def test_a_suspend_between_two_zero_answers_never_deletes_a_live_leaders_key(
    backend: EtcdBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader renews once in its last second; the waiter's clock then stops for 3.75 s.
    Its next probe lands in the renewed lease's last second and answers 0 again: with a clock
    that stopped, the two zeros look 1 s apart and the proof deletes the key 0.5 s before the
    lease expires (a proof timed on CLOCK_MONOTONIC). With CLOCK_BOOTTIME they are 4.8 s apart
    and prove nothing."""
    name = f"susp-{os.urandom(6).hex()}"
    lease = backend.post("lease/grant", {"TTL": str(GRANTED)})["ID"]
    t0 = time.monotonic()
    key = f"{backend.election_prefix(name)}{int(lease):x}-leader"
    backend.post("kv/put", {"key": b64(key), "value": b64("{}"), "lease": lease})
    fake = types.SimpleNamespace(monotonic=SuspendedMonotonic(t0 + 4.4, 3.75).monotonic)
    for module in (candidacy, predecessor, watch):  # where the proof lives: a `time.monotonic`
        monkeypatch.setattr(module, "time", fake, raising=False)  # read there would stop
    waiter = leaselect.Elector(backend, name, ttl=float(GRANTED))
    waiter.start()
    try:
        time.sleep(t0 + 4.3 - time.monotonic())
        backend.post("lease/keepalive", {"ID": lease})  # renewed: expires at t0 + 9.3
        time.sleep(t0 + 9.0 - time.monotonic())
        alive = backend.post("kv/range", {"key": b64(key)}).get("kvs", [])
        assert alive, "a waiter deleted the key of a lease that had 0.3 s left"
    finally:
        waiter.close()
        backend.post("lease/revoke", {"ID": lease})
