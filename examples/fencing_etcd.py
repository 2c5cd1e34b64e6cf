"""Fencing writes kept in etcd: etcd itself rejects a superseded leader's transaction.

Run: python examples/fencing_etcd.py [ETCD_URL]   (default: $LEASELECT_TEST_ETCD_URL)
A is elected and prepares a guarded write, then "freezes" (we revoke its lease, as etcd does when
keep-alives stop arriving); B is elected with a higher token and writes; A wakes up and sends its
prepared write: etcd refuses it, because A's leader key no longer has A's create revision.
"""

from __future__ import annotations

import os
import sys

import leaselect
from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.etcd.fence import guarded_txn, owner_compare, put_op


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LEASELECT_TEST_ETCD_URL", "")
    if not url:
        raise SystemExit("usage: fencing_etcd.py etcd://host:port[,host:port...]")
    name = f"config-writer-{os.urandom(3).hex()}"
    key = f"/example/{name}/config"

    a = leaselect.Elector(url, name, ttl=3.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None and isinstance(a.backend, EtcdBackend)
    print(f"A elected with token {lease_a.token}")
    assert guarded_txn(a.backend, lease_a, [put_op(key, "v1 by A")])
    print("A's guarded write accepted")
    guard = owner_compare(a.backend, lease_a)  # A prepares its next write...
    a.backend.post("lease/revoke", {"ID": str(a.backend.session(3.0).lease(0.0)[0])})  # type: ignore[attr-defined]
    print("A freezes; its lease runs out in etcd")

    b = leaselect.Elector(url, name, ttl=3.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    assert guarded_txn(b.backend, lease_b, [put_op(key, "v2 by B")])
    print("B's guarded write accepted")

    if guarded_txn(a.backend, guard, [put_op(key, "late write by A")]):
        raise SystemExit("BUG: the stale write was accepted")
    print("A's late write rejected by etcd")
    b.close()
    a.close()


if __name__ == "__main__":
    main()
