"""Fencing on Redis: a resource that rejects a superseded leader's write, atomically.

Run: python examples/fencing_redis.py [redis://127.0.0.1:16379/0]
Leader A is elected and writes, then "freezes" past its lease; B is elected with a higher token
and writes; A wakes up and writes with its old token: the fence refuses it. The fence is one
Lua script next to the data (``leaselect.fencing.FENCED_COMMAND``), so the check and the write
are one atomic step.
"""

from __future__ import annotations

import sys
import uuid

import redis

import leaselect
from leaselect.fencing import RedisFence, StaleToken


class RedisLedger:
    """A list in Redis that only the newest leader may append to."""

    def __init__(self, url: str, name: str) -> None:
        self.fence = RedisFence(redis.Redis.from_url(url))
        self.fence_key = f"ledger:{{{name}}}:fence"  # one {tag}: one Redis Cluster slot
        self.entries = f"ledger:{{{name}}}:entries"

    def append(self, token: int, holder: str, entry: str) -> None:
        """Append ``entry``; ``StaleToken`` if ``token`` is superseded."""
        self.fence.write(
            self.fence_key, token, holder, ("RPUSH", self.entries, entry), keys=[self.entries]
        )


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:16379/0"
    name = f"ledger-writer-{uuid.uuid4().hex[:6]}"
    ledger = RedisLedger(url, name)
    store_a, store_b = leaselect.connect(url), leaselect.connect(url)

    a = leaselect.Elector(store_a, name, ttl=1.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None
    print(f"A elected with token {lease_a.token}")
    ledger.append(lease_a.token, "A", "written by A")
    store_b.expire_lease(name)  # A freezes past its lease: Redis expires its key
    print("A freezes; its lease ends in Redis")

    b = leaselect.Elector(store_b, name, ttl=1.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    ledger.append(lease_b.token, "B", "written by B")
    print("B's write accepted")

    try:
        ledger.append(lease_a.token, "A", "late write by A")
        raise SystemExit("BUG: the stale write was accepted")
    except StaleToken as exc:
        print(f"A's late write rejected: {exc}")
    b.close()
    a.close()
    store_b.close()
    store_a.close()


if __name__ == "__main__":
    main()
