"""A contender process for the contract suite; prints one JSON line per event.

python -m tests.support.worker URL NAME TTL MODE [ARGS]
  rounds HOLD N: N times acquire, hold HOLD seconds, release.
  hold: acquire once and keep leading until killed.
  exit: acquire once, then let the interpreter exit without releasing.
  sigterm: acquire once and keep leading until a signal ends the process.
  A last argument "keep" creates the elector with release_on_exit=False.
"""

from __future__ import annotations

import json
import sys
import time

import leaselect
from leaselect.clock import SYSTEM_CLOCK


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "t": SYSTEM_CLOCK.now(), **fields}), flush=True)


def rounds(elector: leaselect.Elector, hold: float, count: int) -> None:
    for _ in range(count):
        lease = elector.acquire(timeout=60)
        assert lease is not None, "no leadership within 60 s"
        emit("elected", token=lease.token)
        end = time.monotonic() + hold
        while time.monotonic() < end:
            assert elector.is_leader, "lost leadership while holding"
            time.sleep(0.005)
        emit("releasing", token=lease.token)
        elector.release()


def main() -> None:
    url, name, ttl, mode, *args = sys.argv[1:]
    if args[-1:] == ["keep"]:
        elector = leaselect.Elector(url, name, ttl=float(ttl), release_on_exit=False)
    else:
        elector = leaselect.Elector(url, name, ttl=float(ttl))
    emit("ready")
    if mode == "rounds":
        rounds(elector, float(args[0]), int(args[1]))
    else:
        lease = elector.acquire(timeout=60)
        assert lease is not None
        emit("elected", token=lease.token)
        if mode == "exit":
            return  # no release, no close: the interpreter's exit must release
        time.sleep(3600)
    elector.close()


if __name__ == "__main__":
    main()
