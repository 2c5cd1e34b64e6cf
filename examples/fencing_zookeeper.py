"""Fencing writes kept in ZooKeeper: ZooKeeper itself rejects a superseded leader's multi.

Run: python examples/fencing_zookeeper.py [ZK_URL]   (default: $LEASELECT_TEST_ZK_URL)
A is elected, writes, and prepares its next write (a guard: its leader node), then "freezes";
its tenure ends in ZooKeeper (``expire_lease`` deletes its node, as its session's expiry would).
B is elected with a higher token and writes. A wakes up and sends its prepared write: the
transaction's ``check`` of A's node fails, so ZooKeeper applies none of it.
"""

from __future__ import annotations

import os
import sys

import leaselect
from leaselect.fencing import StaleToken, ZooKeeperFence


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LEASELECT_TEST_ZK_URL", "")
    if not url:
        raise SystemExit("usage: fencing_zookeeper.py zk://host:port[,host:port...]")
    name = f"config-writer-{os.urandom(3).hex()}"
    path = f"/example-{name}"
    store_a, store_b = leaselect.connect(url), leaselect.connect(url)

    a = leaselect.Elector(store_a, name, ttl=3.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None
    print(f"A elected with token {lease_a.token}")
    fence_a = ZooKeeperFence(store_a)
    fence_a.write(lease_a, lambda txn: txn.create(path, b"v1 by A"))
    print("A's guarded write accepted")
    guard = fence_a.guard(lease_a)  # A prepares its next write...
    store_b.expire_lease(name)
    print("A freezes; its node is gone from ZooKeeper")

    b = leaselect.Elector(store_b, name, ttl=3.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    fence_b = ZooKeeperFence(store_b)
    fence_b.write(lease_b, lambda txn: txn.set_data(path, b"v2 by B"))
    print("B's guarded write accepted")

    try:
        fence_a.write(guard, lambda txn: txn.set_data(path, b"late write by A"))
        raise SystemExit("BUG: the stale write was accepted")
    except StaleToken as exc:
        print(f"A's late write rejected by ZooKeeper: {exc}")
    fence_b.write(lease_b, lambda txn: txn.delete(path))
    b.close()
    a.close()
    store_b.close()
    store_a.close()


if __name__ == "__main__":
    main()
