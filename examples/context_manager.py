"""Run a task only on the leader, with the elector as a context manager.

Run: python examples/context_manager.py [STORE_URL] [NAME]   (default: a temporary embedded store)
Blocks until this process leads NAME, runs three steps that each re-check leadership and carry
the fencing token, then releases so the next process can lead at once.
"""

from __future__ import annotations

import sys
import tempfile
import time

import leaselect


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/leases.db"
    name = sys.argv[2] if len(sys.argv) > 2 else "nightly-report"
    elector = leaselect.Elector(url, name, ttl=5.0)
    try:
        with elector as lease:
            print(f"leading {name} with token {lease.token}")
            for step in range(3):
                if not elector.is_leader:  # re-check before each irreversible step
                    raise leaselect.LeaseLost(f"lost {name} before step {step}")
                print(f"step {step} done with token {lease.token}")
                time.sleep(0.1)
        print("released")
    finally:
        elector.close()


if __name__ == "__main__":
    main()
