"""``leaselect status NAME...``: who leads, with which token, for how long.

The output shows what other processes wrote (identity, metadata): control characters in it are
escaped, never sent to the terminal as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..lease import Leader
from ..names import validate_name
from ..registry import connect
from .text import one_line

EXIT_NO_LEADER = 3


def describe(name: str, leader: Leader | None) -> dict[str, object]:
    """The JSON-ready view of ``leader``: the same keys whether or not someone leads."""
    if leader is None:
        return {"name": name, "leader": None, "token": None, "metadata": None, "expires_in": None}
    left = leader.expires_in
    return {
        "name": name,
        "leader": leader.identity,
        "token": leader.token,
        "metadata": leader.metadata or None,
        "expires_in": None if left is None else round(left, 3),
    }


def render(view: dict[str, object]) -> str:
    """The human-readable view (control characters escaped)."""
    if view["leader"] is None:
        return f"{view['name']}: no leader"
    left = view["expires_in"]
    metadata = view["metadata"]
    lines = [
        f"{view['name']}: led by {one_line(str(view['leader']))}",
        f"  token:    {view['token']}",
        f"  metadata: {'-' if metadata is None else one_line(str(metadata))}",
        f"  expires:  {'unknown' if left is None else f'in {left:.1f}s'}",
    ]
    return "\n".join(lines)


def status(url: str, names: Sequence[str], as_json: bool) -> int:
    """Print the leader of each of ``names``; exit 3 when one of them has no leader."""
    for name in names:
        validate_name(name)
    backend = connect(url)
    try:
        views = [describe(name, backend.observe(name)) for name in names]
    finally:
        backend.close()
    for view in views:
        # json.dumps escapes control characters (ensure_ascii also escapes the rest)
        print(json.dumps(view) if as_json else render(view))
    return 0 if all(view["leader"] is not None for view in views) else EXIT_NO_LEADER
