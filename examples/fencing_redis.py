"""Fencing on Redis: a resource that rejects a superseded leader's write, atomically.

Run: python examples/fencing_redis.py [redis://127.0.0.1:16379/0]
Leader A is elected, then "freezes" past its lease; B is elected with a higher token and writes;
A wakes up and writes with its old token: the resource's script refuses it. The fence is a Lua
script next to the data, so the check and the write are one atomic step.
"""

from __future__ import annotations

import sys
import time
import uuid

import redis

import leaselect

# KEYS: the fence hash, the data list.  ARGV: token, holder, entry.
# Accept a token greater than every token seen, or equal to the newest from the same holder.
FENCED_APPEND = """
local newest = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
local token = tonumber(ARGV[1])
if token < newest or (token == newest and redis.call('HGET', KEYS[1], 'holder') ~= ARGV[2]) then
  return redis.error_reply('STALE token ' .. ARGV[1] .. ' < newest ' .. newest)
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'holder', ARGV[2])
return redis.call('RPUSH', KEYS[2], ARGV[3])
"""


class RedisLedger:
    """A list in Redis that only the newest leader may append to."""

    def __init__(self, url: str, name: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.keys = [f"ledger:{{{name}}}:fence", f"ledger:{{{name}}}:entries"]
        self.append_script = self.client.register_script(FENCED_APPEND)

    def append(self, token: int, holder: str, entry: str) -> None:
        """Append ``entry``; ``redis.ResponseError`` (STALE ...) if ``token`` is superseded."""
        self.append_script(keys=self.keys, args=[token, holder, entry])


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:16379/0"
    name = f"ledger-writer-{uuid.uuid4().hex[:6]}"
    ledger = RedisLedger(url, name)

    a = leaselect.Elector(url, name, ttl=1.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None
    print(f"A elected with token {lease_a.token}")
    a.backend.close()  # A freezes: no renewal reaches Redis any more (like a long GC pause)
    time.sleep(1.2)

    b = leaselect.Elector(url, name, ttl=1.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    ledger.append(lease_b.token, "B", "written by B")
    print("B's write accepted")

    try:
        ledger.append(lease_a.token, "A", "late write by A")
        raise SystemExit("BUG: the stale write was accepted")
    except redis.ResponseError as exc:
        print(f"A's late write rejected: {exc}")
    b.close()


if __name__ == "__main__":
    main()
