"""Fencing your writes: a resource that rejects a superseded leader's write.

Run: python examples/fencing_sqlite.py [STORE_URL]   (default: a temporary embedded store)
Leader A is elected, then "pauses" past its lease; B is elected with a higher token and writes;
A wakes up and tries to write with its old token: the resource refuses.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import leaselect
from leaselect.fencing import SqliteFence, StaleToken


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="leaselect-fencing-")
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{workdir}/leases.db"
    fence = SqliteFence(os.path.join(workdir, "resource.db"))
    fence.write(
        "ledger",
        0,
        "setup",
        lambda db: db.execute("CREATE TABLE IF NOT EXISTS ledger (entry TEXT)"),
    )

    a = leaselect.Elector(url, "ledger-writer", ttl=1.0, identity="A")
    lease_a = a.acquire(timeout=10)
    assert lease_a is not None
    print(f"A elected with token {lease_a.token}")
    a.backend.close()  # A freezes: no renewals reach the store any more (like a long GC pause)
    time.sleep(1.2)

    b = leaselect.Elector(url, "ledger-writer", ttl=1.0, identity="B")
    lease_b = b.acquire(timeout=10)
    assert lease_b is not None
    print(f"B elected with token {lease_b.token}")
    fence.write(
        "ledger",
        lease_b.token,
        "B",
        lambda db: db.execute("INSERT INTO ledger VALUES ('written by B')"),
    )
    print("B's write accepted")

    try:
        fence.write(
            "ledger",
            lease_a.token,
            "A",
            lambda db: db.execute("INSERT INTO ledger VALUES ('late write by A')"),
        )
        raise SystemExit("BUG: the stale write was accepted")
    except StaleToken as exc:
        print(f"A's late write rejected: {exc}")
    b.close()


if __name__ == "__main__":
    main()
