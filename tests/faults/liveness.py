"""The liveness checker: no contender process stops campaigning.

At the end of a phase each live contender in turn is left alone: every other contender is
SIGSTOPped, so their leases run out, and the lone one must be elected within
2 x TTL + the elector's backoff cap + 2 s. One that is not (its campaign thread died, hangs on a
callback, or was dropped by release/start) has stopped campaigning. Stopping a leader this way
is a SIGSTOP > TTL fault on the timeline, recorded as one so the other checkers judge it.

A contender stopped while it holds a file lock for writing (the embedded store's SQLite write
lock, a few milliseconds per renewal) would freeze every election on the file until it resumes:
a documented limit of the embedded store (docs/embedded.md), not a contender that stopped
campaigning. The probe resumes and stops the others again until none of them holds one.
"""

from __future__ import annotations

import os
import signal
import time

from leaselect.elector import MAX_BACKOFF
from tests.support.private import stop_clear_of_write_locks

from .cluster import Cluster, Contender
from .nemesis import Fault

SETTLE = 1.0


def elected_since(cluster: Cluster, ident: str, since: float) -> bool:
    return any(
        ev["ev"] == "elected" and ev["id"] == ident and ev["mono"] > since
        for ev in cluster.events()
    )


def probe(cluster: Cluster) -> tuple[list[Fault], list[str]]:
    """Leave each live contender alone in turn; (faults injected, contenders that stalled)."""
    bound = 2 * cluster.ttl + MAX_BACKOFF + 2.0
    faults: list[Fault] = []
    stalled = [
        f"{c.identity} exited with status {c.proc.returncode}"
        for c in cluster.contenders
        if c.proc.poll() is not None and c.identity not in cluster.deaths
    ]
    for alone in cluster.live():
        leader = cluster.leader()
        if leader is alone:
            continue
        others = [c for c in cluster.live() if c is not alone]
        start = time.monotonic()
        stop_clear_of_write_locks({c.pid for c in others if c.proc.poll() is None})
        deadline = start + bound
        while time.monotonic() < deadline and not elected_since(cluster, alone.identity, start):
            time.sleep(0.05)
        end = time.monotonic()
        _signal(others, signal.SIGCONT)
        if leader is not None:
            faults.append(
                Fault(
                    "SIGSTOP > TTL (liveness probe)",
                    leader.identity,
                    start,
                    end,
                    False,
                    False,
                    False,
                )
            )
        if not elected_since(cluster, alone.identity, start):
            stalled.append(f"{alone.identity}: no on_elected {bound:.1f} s after it was left alone")
        time.sleep(SETTLE)
    return faults, stalled


def _signal(contenders: list[Contender], sig: signal.Signals) -> None:
    for contender in contenders:
        if contender.proc.poll() is None:
            os.kill(contender.pid, sig)
