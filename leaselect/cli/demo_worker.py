"""``python -m leaselect.cli.demo_worker URL NAME IDENTITY TTL``: one contender of the demo.

Prints one JSON line per event with a CLOCK_BOOTTIME timestamp ``t`` (shared by every process
of the host). SIGUSR1 hands leadership over (release, then campaign again); SIGTERM exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

from ..clock import SYSTEM_CLOCK
from ..elector import Elector
from ..lease import Lease, LostReason
from ..signalmask import process_signals_blocked

_print_lock = threading.Lock()


def emit(event: str, **fields: object) -> None:
    """Print one event line, timestamped on the shared clock."""
    with _print_lock:
        print(json.dumps({"event": event, "t": SYSTEM_CLOCK.now(), **fields}), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Campaign until SIGTERM; hand over on SIGUSR1."""
    url, name, identity, ttl = sys.argv[1:] if argv is None else argv
    stop, handover = threading.Event(), threading.Event()

    def on_elected(lease: Lease) -> None:
        emit("elected", id=identity, token=lease.token)

    def on_lost(lease: Lease, reason: LostReason) -> None:
        emit("lost", id=identity, token=lease.token, reason=reason.value)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGUSR1:
            stop.set()
        handover.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, on_signal)
    with process_signals_blocked():  # signals go to this thread, parked in handover.wait()
        elector = Elector(
            url, name, ttl=float(ttl), identity=identity, on_elected=on_elected, on_lost=on_lost
        )
        elector.start()
    emit("ready", id=identity)
    while not stop.is_set():
        handover.wait()
        handover.clear()
        if stop.is_set():
            break
        emit("releasing", id=identity)
        elector.release()
        elector.start()
    elector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
