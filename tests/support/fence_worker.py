"""One value per election, written only through the fence of a store; and the old leader of
the fence tests, as a process the test can SIGSTOP.

python -m tests.support.fence_worker KIND URL NAME TTL DIR
  Leads NAME, writes "A" through the fence and prints {"event": "ready", "token": ...}, keeping
  what a leader takes while it leads (its token and identity, or the fence's guard). On a line
  of stdin, writes "late" with that and prints {"event": "accepted"}, {"event": "stale",
  "newest": ...} or {"event": "error", "error": ...}.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
import urllib.parse
from typing import Any, Protocol

import redis

import leaselect
from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.etcd.transport import b64, unb64
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.fencing import (
    EtcdFence,
    RedisFence,
    SqliteFence,
    StaleToken,
    ZooKeeperFence,
    put_op,
)
from leaselect.lease import Lease

RETRIES = 50  # x 0.2 s: a resumed process's connection may need to recover first


class FencedValue(Protocol):
    """The value of one election, in the store of ``kind``."""

    def prepare(self, lease: Lease) -> Any:
        """What a leader takes while it leads and writes with later."""

    def write(self, prepared: Any, value: str) -> None:
        """Write ``value`` through the fence; ``StaleToken`` if refused."""

    def read(self) -> str | None:
        """The value as the store has it."""


class SqliteValue:
    def __init__(self, path: str, name: str) -> None:
        self.path, self.name, self.fence = path, name, SqliteFence(path)
        with sqlite3.connect(path, timeout=5.0) as db:
            db.execute("CREATE TABLE IF NOT EXISTS value (name TEXT PRIMARY KEY, value TEXT)")

    def prepare(self, lease: Lease) -> Any:
        return (lease.token, lease.identity)

    def write(self, prepared: Any, value: str) -> None:
        row = (self.name, value)
        put = "INSERT OR REPLACE INTO value VALUES (?, ?)"
        token, holder = prepared
        self.fence.write(self.name, token, holder, lambda db: db.execute(put, row))

    def read(self) -> str | None:
        with sqlite3.connect(self.path, timeout=5.0) as db:
            found = db.execute("SELECT value FROM value WHERE name=?", (self.name,)).fetchone()
        return None if found is None else str(found[0])


class RedisValue:
    def __init__(self, url: str, name: str) -> None:
        plain = urllib.parse.urlsplit(url)._replace(query="").geturl()  # no leaselect options
        self.client = redis.Redis.from_url(plain)
        self.fence = RedisFence(self.client)
        self.key, self.fence_key = f"fenced:{{{name}}}", f"fenced:{{{name}}}:fence"

    def prepare(self, lease: Lease) -> Any:
        return (lease.token, lease.identity)

    def write(self, prepared: Any, value: str) -> None:
        token, holder = prepared
        self.fence.write(self.fence_key, token, holder, ("SET", self.key, value), keys=[self.key])

    def read(self) -> str | None:
        raw = self.client.get(self.key)
        return None if raw is None else str(raw.decode() if isinstance(raw, bytes) else raw)


class EtcdValue:
    def __init__(self, backend: EtcdBackend, name: str) -> None:
        self.backend, self.fence, self.key = backend, EtcdFence(backend), f"/fenced/{name}"

    def prepare(self, lease: Lease) -> Any:
        return self.fence.guard(lease)

    def write(self, prepared: Any, value: str) -> None:
        self.fence.write(prepared, [put_op(self.key, value)])

    def read(self) -> str | None:
        kvs = self.backend.post("kv/range", {"key": b64(self.key)}).get("kvs", [])
        return unb64(kvs[0]["value"]) if kvs else None


class ZooKeeperValue:
    def __init__(self, backend: ZooKeeperBackend, name: str) -> None:
        self.client, self.path = backend.conn.client(), f"/leaselect-fenced/{name}"
        self.client.ensure_path(self.path)
        self.fence = ZooKeeperFence(backend)

    def prepare(self, lease: Lease) -> Any:
        return self.fence.guard(lease)

    def write(self, prepared: Any, value: str) -> None:
        self.fence.write(prepared, lambda txn: txn.set_data(self.path, value.encode()))

    def read(self) -> str | None:
        return str(self.client.get(self.path)[0].decode()) or None


def fenced_value(kind: str, url: str, backend: leaselect.Backend, name: str, where: str) -> Any:
    """The ``FencedValue`` of election ``name`` in store ``kind``."""
    if kind == "sqlite":
        return SqliteValue(f"{where}/resource.db", name)
    if kind == "redis":
        return RedisValue(url, name)
    if isinstance(backend, EtcdBackend):
        return EtcdValue(backend, name)
    assert isinstance(backend, ZooKeeperBackend), kind
    return ZooKeeperValue(backend, name)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def late_write(value: FencedValue, prepared: Any) -> None:
    """Write once more with what was prepared while leading; report the fence's answer."""
    for _ in range(RETRIES):
        try:
            value.write(prepared, "late")
            emit("accepted")
            return
        except StaleToken as exc:
            emit("stale", newest=exc.newest)
            return
        except leaselect.BackendUnavailable:
            time.sleep(0.2)
    emit("error", error="the store stayed unavailable")


def main() -> None:
    kind, url, name, ttl, where = sys.argv[1:]
    backend = leaselect.connect(url)
    elector = leaselect.Elector(backend, name, ttl=float(ttl), identity="A")
    lease = elector.acquire(timeout=30)
    assert lease is not None, "A was not elected"
    value: FencedValue = fenced_value(kind, url, backend, name, where)
    prepared = value.prepare(lease)
    value.write(prepared, "A")
    emit("ready", token=lease.token)
    sys.stdin.readline()
    try:
        late_write(value, prepared)
    except Exception as exc:  # reported to the test
        emit("error", error=repr(exc))
    elector.close()
    backend.close()


if __name__ == "__main__":
    main()
