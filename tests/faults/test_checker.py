"""The checkers must catch what they claim to catch: synthetic logs with planted violations."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .checker import check
from .nemesis import Fault
from .workload import ACCEPTED_SCHEMA

TTL = 2.0


def fence(tmp_path: Path, rows: list[tuple[int, str, float]]) -> str:
    path = str(tmp_path / "fence.db")
    with sqlite3.connect(path) as db:
        db.executescript(ACCEPTED_SCHEMA)
        db.executemany("INSERT INTO accepted (token, holder, mono) VALUES (?, ?, ?)", rows)
    return path


def ev(kind: str, ident: str, mono: float, **fields: Any) -> dict[str, Any]:
    return {"ev": kind, "id": ident, "mono": mono, **fields}


def tenure(ident: str, token: int, start: float, end: float) -> list[dict[str, Any]]:
    return [
        ev("elected", ident, start, token=token, deadline=end),
        ev("lost", ident, end, token=token, reason="expired", deadline=end),
    ]


def test_clean_handover_passes(tmp_path: Path) -> None:
    events = tenure("a", 1, 0.0, 5.0) + tenure("b", 2, 7.0, 9.0)
    path = fence(tmp_path, [(1, "a", 1.0), (2, "b", 8.0)])
    fault = Fault("kill", "a", 4.0, 4.0, True, True, False)
    report = check("x", events, {}, [fault], path, TTL)
    assert report.failures(strict_tokens=True) == []
    assert report.recoveries == [3.0]


def test_stale_write_overlap_and_token_regression_are_caught(tmp_path: Path) -> None:
    events = tenure("a", 2, 0.0, 5.0) + tenure("b", 1, 4.0, 9.0)
    path = fence(tmp_path, [(2, "a", 1.0), (1, "b", 4.5)])
    failures = check("x", events, {}, [], path, TTL).failures(strict_tokens=True)
    assert any(f.startswith("C1") for f in failures)
    assert any(f.startswith("C2") for f in failures)
    assert any(f.startswith("C3") for f in failures)


def test_late_missing_lost_work_after_lost_and_missed_fault(tmp_path: Path) -> None:
    events = [
        ev("elected", "a", 0.0, token=1, deadline=2.0),
        ev("lost", "a", 2.2, token=1, reason="expired", deadline=2.0),
        ev("write", "a", 2.3, token=1, t0=2.25, res="ok", deadline=2.0),
        ev("elected", "b", 3.0, token=2, deadline=5.0),
    ]
    fault = Fault("kill", "c", 1.0, 1.0, True, True, False)
    failures = check("x", events, {}, [fault], fence(tmp_path, []), TTL).failures(True)
    kinds = {f.split(":")[0] for f in failures}
    assert {"C4 late lost", "C4 missing lost", "C4 work after lost", "C6 fault missed"} <= kinds
