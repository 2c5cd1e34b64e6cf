"""The fencing rule, the error a refused write raises, and what an in-store fence checks.

A leader can act after its tenure ended (a GC pause, a SIGSTOP, a late packet), so the resource
itself must refuse a superseded tenure's writes. Two ways, both here:

- **Token rule** (``admits``; ``SqliteFence``, ``RedisFence``): the resource remembers the newest
  token it accepted and its holder, and accepts a write only if its token is greater, or equal
  and from the same holder. Tokens strictly increase across tenures, so once a successor has
  written, every earlier tenure is refused. Before that first write an old tenure still passes:
  the rule orders writes, it cannot know a tenure ended.
- **Ownership guard** (``Guard``; ``EtcdFence``, ``ZooKeeperFence``): the write is a store
  transaction that applies only while the tenure's own key or node still exists. It refuses a
  superseded tenure as soon as the store ended it, whether or not a successor wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LeaselectError
from ..lease import Lease


def admits(newest: tuple[int, str] | None, token: int, holder: str) -> bool:
    """The token rule: may a write with ``(token, holder)`` follow the newest accepted one?"""
    if newest is None:
        return True
    seen_token, seen_holder = newest
    return token > seen_token or (token == seen_token and holder == seen_holder)


class StaleToken(LeaselectError):
    """A fence refused a write: its tenure was superseded (or has ended, for a guard).

    ``newest`` is the newest token the resource knows of, or None where it cannot tell.
    """

    def __init__(self, resource: str, token: int, newest: int | None) -> None:
        seen = "its tenure no longer leads" if newest is None else f"newest seen is {newest}"
        super().__init__(f"{resource!r}: token {token} is stale ({seen})")
        self.resource, self.token, self.newest = resource, token, newest


@dataclass(frozen=True)
class Guard:
    """What an in-store fence checks: the store entry whose existence proves that tenure
    ``token`` of election ``name`` still leads (an etcd key, a ZooKeeper node).

    Take it while leading and write with it later: the store decides, not the local clock.
    """

    name: str
    token: int
    entry: str

    @classmethod
    def of(cls, lease: Lease, entry: str | None) -> Guard:
        """The guard of ``lease`` given its store ``entry`` (None: it no longer leads there)."""
        if entry is None:
            raise StaleToken(lease.name, lease.token, None)
        return cls(lease.name, lease.token, entry)
