"""Health, roles and leaders of the members, and waiting until they are healthy."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from .errors import BackendError
from .member import Member
from .process import exited
from .topology import KINDS, get_member, kind_of

DEFAULT_TIMEOUT = 60.0  # seconds to wait for a store (or member) to become healthy


def member_healthy(name: str) -> bool:
    """Redis answers PING; an etcd member's /health is true; a ZooKeeper member leads/follows."""
    member = get_member(name)
    return KINDS[member.store].healthy(member)


def member_role(name: str) -> str | None:
    """leader/follower (etcd, ZooKeeper) or primary (Redis); None if it does not answer."""
    member = get_member(name)
    return KINDS[member.store].role(member)


def leader_of(store: str) -> str | None:
    """The member that currently leads the store (raft/zab leader; ``redis`` itself), or None."""
    return kind_of(store).leader()


def log_tail(member: Member, lines: int = 25) -> str:
    """The last lines of the member's logs, for error messages."""
    parts = []
    for log in KINDS[member.store].log_files(member):
        with contextlib.suppress(OSError):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no log in {member.directory})"


def _wait_for(
    members: Sequence[Member], ready: Callable[[], bool], deadline: float, what: str
) -> None:
    """Poll ``ready`` until it holds; fail early if a member's server exits, or at the deadline."""
    while True:
        for member in members:
            if exited(member):
                raise BackendError(f"{member.name} is not running\n{log_tail(member)}")
        if ready():
            return
        if time.monotonic() >= deadline:
            unhealthy = [m for m in members if not member_healthy(m.name)] or list(members)
            tails = "\n".join(log_tail(m) for m in unhealthy)
            raise BackendError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.2)


def wait_healthy(store: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until every member of ``store`` is healthy and a leader exists."""
    kind = kind_of(store)

    def ready() -> bool:
        return all(kind.healthy(m) for m in kind.members) and kind.leader() is not None

    deadline = time.monotonic() + timeout
    _wait_for(kind.members, ready, deadline, f"{kind.store} to become healthy")


def wait_member_healthy(name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until one member is healthy (for etcd and ZooKeeper: part of a working quorum)."""
    member = get_member(name)
    deadline = time.monotonic() + timeout
    _wait_for([member], lambda: member_healthy(name), deadline, f"{name} to become healthy")
