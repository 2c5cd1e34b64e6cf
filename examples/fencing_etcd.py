"""Fencing writes kept in etcd: etcd itself rejects a superseded leader's transaction.

Run: python examples/fencing_etcd.py [ETCD_URL]   (default: $LEASELECT_TEST_ETCD_URL)
A is elected, writes, and prepares its next write (a guard: its leader key and create revision),
then "freezes"; its lease ends in etcd (``expire_lease`` deletes its key, as an expiry would).
B is elected with a higher token and writes. A wakes up and sends its prepared write: etcd
refuses it, because A's leader key no longer exists with A's create revision.
"""

from __future__ import annotations

import os
import sys

import leaselect
from leaselect.fencing import EtcdFence, StaleToken, put_op


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LEASELECT_TEST_ETCD_URL", "")
    if not url:
        raise SystemExit("usage: fencing_etcd.py etcd://host:port[,host:port...]")
    name = f"config-writer-{os.urandom(3).hex()}"
    key = f"/example/{name}/config"
    store_a, store_b = leaselect.connect(url), leaselect.connect(url)

    a = leaselect.Elector(store_a, name, ttl=3.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None
    print(f"A elected with token {lease_a.token}")
    fence_a = EtcdFence(store_a)
    fence_a.write(lease_a, [put_op(key, "v1 by A")])
    print("A's guarded write accepted")
    guard = fence_a.guard(lease_a)  # A prepares its next write...
    store_b.expire_lease(name)
    print("A freezes; its lease ends in etcd")

    b = leaselect.Elector(store_b, name, ttl=3.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    EtcdFence(store_b).write(lease_b, [put_op(key, "v2 by B")])
    print("B's guarded write accepted")

    try:
        fence_a.write(guard, [put_op(key, "late write by A")])
        raise SystemExit("BUG: the stale write was accepted")
    except StaleToken as exc:
        print(f"A's late write rejected by etcd: {exc}")
    b.close()
    a.close()
    store_b.close()
    store_a.close()


if __name__ == "__main__":
    main()
