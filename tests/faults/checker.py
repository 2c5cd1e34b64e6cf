"""The six checkers, computed from the contenders' logs and the resource's own table."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .nemesis import Fault

LOST_SLACK = 0.05  # a lost line may come at most 50 ms after the deadline
RECOVERY_SLACK = 1.0  # a new leader within TTL + 1 s
# Extra recovery time a store needs beyond TTL + 1 s (none now). ZooKeeper expires sessions in
# tick buckets, a dead session outliving its timeout by up to ~1.1 ticks; backends/zookeeper uses
# tickTime 500 for that reason (with 1000 it needed + 2 s). Session 1's 4.70 s "recovery" was
# most likely a contender elected while its previous tenure's blocking on_lost still ran (its
# elected line came late); an elector now campaigns again only after on_lost returned.
EXPIRY_GRANULARITY: dict[str, float] = {}


@dataclass
class Tenure:
    """One (process, token) tenure on the monotonic timeline."""

    ident: str
    token: int
    start: float
    end: float | None = None  # when it stopped believing it leads (lost / death)
    losts: list[dict[str, Any]] = field(default_factory=list)
    died: bool = False
    last_work: float | None = None  # last write the resource accepted

    @property
    def busy_until(self) -> float:
        """End of the tenure including late accepted work."""
        end = self.end if self.end is not None else self.start
        return max(end, self.last_work or end)


@dataclass
class Report:
    """What the checkers found in one run."""

    store: str
    elections: int = 0
    faults: list[tuple[Fault, bool]] = field(default_factory=list)  # (fault, hit a tenure)
    accepted: int = 0
    rejected: int = 0
    stale_accepted: list[str] = field(default_factory=list)
    overlap_inside_ms: float = 0.0
    overlap_outside_ms: float = 0.0
    overlaps: list[str] = field(default_factory=list)
    token_regressions: list[str] = field(default_factory=list)
    late_lost: list[str] = field(default_factory=list)
    late_lost_paused: int = 0
    missing_lost: list[str] = field(default_factory=list)
    work_after_lost: list[str] = field(default_factory=list)
    stepdowns: list[str] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)
    slow_recoveries: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)  # contenders that stopped campaigning
    refused: list[str] = field(default_factory=list)  # configurations the library refused
    strict_regressions: list[str] = field(default_factory=list)  # C3 where it must hold

    def failures(self, strict_tokens: bool) -> list[str]:
        """Every violated property, one line each (empty: the run passed)."""
        out = [f"C1 stale write accepted: {s}" for s in self.stale_accepted]
        if self.overlap_inside_ms > 0:
            out += [f"C2 {o}" for o in self.overlaps if "inside" in o]
        if strict_tokens:
            out += [f"C3 {t}" for t in self.token_regressions]
        out += [f"C4 late lost: {x}" for x in self.late_lost]
        out += [f"C4 missing lost: {x}" for x in self.missing_lost]
        out += [f"C4 work after lost: {x}" for x in self.work_after_lost]
        out += [f"C5 slow recovery: {x}" for x in self.slow_recoveries]
        out += [f"C6 fault missed: {f.kind} at {f.start:.3f}" for f, hit in self.faults if not hit]
        out += [f"stable fault stepped down: {x}" for x in self.stepdowns if "SIGSTOP" in x]
        out += [f"L stopped campaigning: {x}" for x in self.stalled]
        out += [f"C3 {x}" for x in self.strict_regressions]
        return out


def stale_writes(fence_path: str) -> tuple[int, list[str]]:
    """C1 from the resource's own table: accepted rows in commit order must pass the fence rule."""
    with sqlite3.connect(fence_path) as db:
        rows = db.execute(
            "SELECT seq, token, holder, max_before FROM accepted ORDER BY seq"
        ).fetchall()
    bad: list[str] = []
    top: tuple[int, str] | None = None
    for seq, token, holder, max_before in rows:
        if top is not None and (token < top[0] or (token == top[0] and holder != top[1])):
            bad.append(f"seq {seq} token {token} by {holder} after token {top[0]} by {top[1]}")
        if max_before is not None and token < max_before:
            bad.append(f"seq {seq} token {token} < max_before {max_before}")
        if top is None or token >= top[0]:
            top = (token, holder)
    return len(rows), bad


def work_spans(fence_path: str) -> dict[tuple[str, int], tuple[float, float]]:
    """(holder, token) -> (first, last) accepted write time."""
    with sqlite3.connect(fence_path) as db:
        rows = db.execute(
            "SELECT holder, token, min(mono), max(mono) FROM accepted GROUP BY holder, token"
        ).fetchall()
    return {(h, t): (lo, hi) for h, t, lo, hi in rows}


def tenures(
    events: list[dict[str, Any]],
    deaths: dict[str, float],
    spans: dict[tuple[str, int], tuple[float, float]],
) -> list[Tenure]:
    """Tenures from elected/lost lines, widened by the resource's accepted writes.

    A process may hold the same token twice (Redis restarted without data): each ``elected``
    after a ``lost`` of the same (process, token) starts a new tenure.
    """
    found: dict[tuple[str, int], Tenure] = {}
    done: list[Tenure] = []
    for ev in events:
        key = (ev["id"], ev.get("token", -1))
        if ev["ev"] == "elected":
            if key in found and found[key].losts:
                done.append(found.pop(key))
            found.setdefault(key, Tenure(ev["id"], ev["token"], ev["mono"]))
        elif ev["ev"] == "lost" and key in found:
            found[key].losts.append(ev)
    for key, (first, _) in spans.items():
        if key not in found:
            found[key] = Tenure(key[0], key[1], first)
    reused = {(t.ident, t.token) for t in done}  # a token handed out again (store lost data)
    for (ident, _), ten in found.items():
        work = spans.get((ident, ten.token))
        if work is not None and (ident, ten.token) not in reused:
            ten.start, ten.last_work = min(ten.start, work[0]), work[1]
    for ten in [*done, *found.values()]:
        if ten.losts:
            ten.end = min(ten.losts[0]["mono"], ten.losts[0]["deadline"])
        elif ten.ident in deaths:
            ten.died, ten.end = True, deaths[ten.ident]
    found.update({(t.ident, -i - 2): t for i, t in enumerate(done)})
    return sorted(found.values(), key=lambda t: t.start)


def _live_at(ten: Tenure, when: float) -> bool:
    return ten.start <= when and (ten.end is None or when <= ten.end)


def _hit(fault: Fault, tens: list[Tenure]) -> bool:
    """C6: the targeted process (any process, for store faults) led when the fault began."""
    store = fault.target.startswith("store:")
    return any(_live_at(t, fault.start) and (store or t.ident == fault.target) for t in tens)


def _fault_near(faults: list[Fault], when: float, ttl: float) -> Fault | None:
    """The latest fault that began before ``when``, if its effects can still be felt."""
    before = [f for f in faults if f.start - 0.1 <= when <= f.end + ttl + 2.0]
    return max(before, key=lambda f: f.start, default=None)


def _window_end(fault: Fault, faults: list[Fault], ttl: float) -> float:
    """Effects are attributed to ``fault`` until TTL + 1 s after it, or the next fault."""
    later = [f.start for f in faults if f.start > fault.start]
    return min([fault.end + ttl + 1.0, *later])


def check_overlaps(report: Report, tens: list[Tenure], faults: list[Fault], ttl: float) -> None:
    """C2: no two tenures of different processes overlap (inside the assumptions)."""
    for i, a in enumerate(tens):
        for b in tens[i + 1 :]:
            if a.ident == b.ident:
                continue
            overlap = min(a.busy_until, b.busy_until) - max(a.start, b.start)
            if overlap <= 0:
                continue
            fault = _fault_near(faults, max(a.start, b.start), ttl)
            inside = fault is None or fault.inside
            where = fault.kind if fault else "no fault"
            label = "inside" if inside else "outside"
            report.overlaps.append(
                f"overlap {overlap * 1000:.0f} ms ({label} assumptions, {where}): "
                f"{a.ident}/t{a.token} and {b.ident}/t{b.token}"
            )
            if inside:
                report.overlap_inside_ms += overlap * 1000
            else:
                report.overlap_outside_ms += overlap * 1000


def _paused_over(ten: Tenure, faults: list[Fault], lo: float, hi: float) -> bool:
    return any(
        f.target == ten.ident and "SIGSTOP" in f.kind and f.start <= hi and f.end >= lo
        for f in faults
    )


def _next_start(ten: Tenure, tens: list[Tenure]) -> float:
    later = [t.start for t in tens if t.ident == ten.ident and t.start > ten.start]
    return min(later, default=float("inf"))


def check_lost(
    report: Report, tens: list[Tenure], events: list[dict[str, Any]], faults: list[Fault]
) -> None:
    """C4: exactly one lost (or death) per tenure, by deadline + 50 ms, no work after it."""
    for ten in tens:
        name = f"{ten.ident}/t{ten.token}"
        if not ten.losts:
            if not ten.died:
                report.missing_lost.append(name)
            continue
        if len(ten.losts) > 1:
            report.missing_lost.append(f"{name}: {len(ten.losts)} lost lines")
        lost = ten.losts[0]
        late = lost["mono"] - lost["deadline"]
        if late > LOST_SLACK:
            if _paused_over(ten, faults, lost["deadline"], lost["mono"]):
                report.late_lost_paused += 1
            else:
                report.late_lost.append(f"{name} lost {late * 1000:.0f} ms after its deadline")
        report.work_after_lost += [
            f"{name} write checked {1000 * (ev['t0'] - lost['mono']):.0f} ms after lost"
            for ev in events
            if ev["ev"] == "write"
            and ev["id"] == ten.ident
            and ev["token"] == ten.token
            and lost["mono"] < ev["t0"] < _next_start(ten, tens)
        ]


def check_faults(report: Report, tens: list[Tenure], faults: list[Fault], ttl: float) -> None:
    """C5 recovery after crash / cut-off, C6 hits, step-downs where none is expected."""
    for fault in faults:
        hit = _hit(fault, tens)
        report.faults.append((fault, hit))
        if fault.stable:
            report.stepdowns += [
                f"{fault.kind}: {t.ident}/t{t.token} {t.losts[0]['reason']}"
                for t in tens
                if t.losts
                and t.losts[0]["reason"] != "released"
                and fault.start <= t.losts[0]["mono"] <= _window_end(fault, faults, ttl)
            ]
        if not (fault.failover and hit):
            continue
        after = [t.start for t in tens if t.start >= fault.start and t.ident != fault.target]
        after += [t.start for t in tens if t.start > fault.start + 0.01 and t.ident == fault.target]
        if not after:
            report.slow_recoveries.append(f"{fault.kind} at {fault.start:.3f}: no new leader")
            continue
        took = min(after) - fault.start
        report.recoveries.append(took)
        if took > ttl + EXPIRY_GRANULARITY.get(report.store, 0.0) + RECOVERY_SLACK:
            report.slow_recoveries.append(f"{fault.kind}: new leader after {took:.2f} s")


def check(
    store: str,
    events: list[dict[str, Any]],
    deaths: dict[str, float],
    faults: list[Fault],
    fence_path: str,
    ttl: float,
) -> Report:
    """Run every checker over one run's logs."""
    report = Report(store)
    report.accepted, report.stale_accepted = stale_writes(fence_path)
    report.rejected = sum(1 for e in events if e["ev"] == "write" and e["res"] == "stale")
    tens = tenures(events, deaths, work_spans(fence_path))
    report.elections = len(tens)
    top = None
    for ten in tens:
        if top is not None and ten.token <= top:
            report.token_regressions.append(f"{ten.ident} token {ten.token} after {top}")
        top = ten.token if top is None else max(top, ten.token)
    check_overlaps(report, tens, faults, ttl)
    check_lost(report, tens, events, faults)
    check_faults(report, tens, faults, ttl)
    return report
