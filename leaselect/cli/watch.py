"""``leaselect watch NAME...``: one line per change of a leader, as the store pushes it.

The first line per election is its current leader; then one line per change (a new identity or
token, or nobody), until Ctrl-C or ``--timeout``. Lines carry the wall-clock time of the report
(for reading only; no lease math uses it) and escape control characters like ``status``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from ..watching import LeaderWatch
from .status import describe
from .text import one_line


def line(view: dict[str, object], as_json: bool) -> str:
    """One change, as JSON or as text."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    if as_json:
        return json.dumps({"time": now, **view})
    if view["leader"] is None:
        return f"{now} {view['name']}: no leader"
    return f"{now} {view['name']}: {one_line(str(view['leader']))} (token {view['token']})"


def watch(url: str, names: Sequence[str], as_json: bool, timeout: float | None) -> int:
    """Print every change of the leaders of ``names`` until interrupted or ``timeout``."""
    with LeaderWatch(url, names, timeout=timeout) as changes:
        for change in changes:
            print(line(describe(change.name, change.leader), as_json), flush=True)
    return 0
