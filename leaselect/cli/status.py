"""``leaselect status NAME``: who leads, with which token, for how long."""

from __future__ import annotations

import json

from ..lease import Leader
from ..names import validate_name
from ..registry import connect

EXIT_NO_LEADER = 3


def describe(name: str, leader: Leader | None) -> dict[str, object]:
    """The JSON-ready view of ``leader``."""
    if leader is None:
        return {"name": name, "leader": None}
    return {
        "name": name,
        "leader": leader.identity,
        "token": leader.token,
        "metadata": leader.metadata,
        "expires_in": None if leader.expires_in is None else round(leader.expires_in, 3),
    }


def render(view: dict[str, object]) -> str:
    """The human-readable view."""
    if view["leader"] is None:
        return f"{view['name']}: no leader"
    left = view["expires_in"]
    lines = [
        f"{view['name']}: led by {view['leader']}",
        f"  token:    {view['token']}",
        f"  metadata: {view['metadata'] or '-'}",
        f"  expires:  {'unknown' if left is None else f'in {left:.1f}s'}",
    ]
    return "\n".join(lines)


def status(url: str, name: str, as_json: bool) -> int:
    """Print the leader of ``name``; exit 3 when nobody leads."""
    validate_name(name)
    backend = connect(url)
    try:
        view = describe(name, backend.observe(name))
    finally:
        backend.close()
    print(json.dumps(view) if as_json else render(view))
    return 0 if view["leader"] is not None else EXIT_NO_LEADER
