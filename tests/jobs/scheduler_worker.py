"""One process of the multi-process APScheduler tests: a real scheduler behind LeaderScheduler.

Usage: python -m tests.jobs.scheduler_worker URL NAME LOGFILE TTL [RENEW [SKEW]]
RENEW: renew interval in seconds ("-": the default ttl / 3). SKEW: seconds added to this
process's wall clock (``time.time`` and the ``datetime.now`` APScheduler reads), simulating a
host whose clock is off. Appends lines to LOGFILE (CLOCK_BOOTTIME seconds, shared by every
process of the host):
  elected PID TOKEN START      (START = when the process learned it leads)
  lost PID TOKEN END REASON    (END = the instant the tenure ended)
  job PID TOKEN FIRE_TIME BEGIN END
  skipped PID FIRE_TIME        (a fire time this process did not run: EVENT_JOB_SKIPPED)
Runs until SIGTERM, then shuts down gracefully (releasing leadership).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from leaselect import SYSTEM_CLOCK, Lease, LostReason
from leaselect.integrations.apscheduler import LeaderScheduler, current_job
from leaselect.signalmask import process_signals_blocked

EVERY = 0.2  # seconds between fire times, on a grid shared by every process
GRID = datetime(2020, 1, 1, tzinfo=timezone.utc)


def skew_wall_clock(seconds: float) -> None:
    """Make this process's wall clock read ``seconds`` off (``time.time``, ``datetime.now``)."""
    import apscheduler.executors.base as executors  # type: ignore[import-untyped]
    import apscheduler.schedulers.base as schedulers  # type: ignore[import-untyped]

    real_time = time.time
    time.time = lambda: real_time() + seconds

    class SkewedDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(time.time(), tz)

    schedulers.datetime = SkewedDatetime
    executors.datetime = SkewedDatetime


def main() -> None:
    url, name, path, ttl = *sys.argv[1:4], float(sys.argv[4])
    renew = sys.argv[5] if len(sys.argv) > 5 else "-"
    if len(sys.argv) > 6:
        skew_wall_clock(float(sys.argv[6]))
    options: dict[str, Any] = {} if renew == "-" else {"renew_interval": float(renew)}
    pid = os.getpid()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(line: str) -> None:
        os.write(fd, f"{line}\n".encode())

    def elected(lease: Lease) -> None:
        log(f"elected {pid} {lease.token} {SYSTEM_CLOCK.now():.6f}")

    def lost(lease: Lease, reason: LostReason) -> None:
        log(f"lost {pid} {lease.token} {lease.deadline:.6f} {reason.value}")

    def job() -> None:
        context = current_job()
        begin = SYSTEM_CLOCK.now()
        context.stop.wait(0.05)  # some work that honours the stop signal
        end = SYSTEM_CLOCK.now()
        fire = context.fire_time.timestamp()
        log(f"job {pid} {context.lease.token} {fire:.3f} {begin:.6f} {end:.6f}")

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with process_signals_blocked():  # SIGTERM must reach this thread, parked in done.wait()
        scheduler = BackgroundScheduler(timezone=timezone.utc)
        scheduler_gate = LeaderScheduler(
            scheduler, url, name, ttl=ttl, on_elected=elected, on_lost=lost, **options
        )
        scheduler.add_job(job, "interval", seconds=EVERY, start_date=GRID, id="tick")
        scheduler_gate.start()
    done.wait()
    scheduler_gate.shutdown()
    os.close(fd)


if __name__ == "__main__":
    main()
