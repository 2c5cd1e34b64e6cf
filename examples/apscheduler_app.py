"""An APScheduler app where only the leader runs the jobs.

Run the same command in several terminals; only the leader prints "tick" lines, and when it
stops (Ctrl-C) or dies another one takes over within about one TTL:
    python examples/apscheduler_app.py [STORE_URL] [SECONDS]
(default: an embedded store in /tmp shared by every copy, and run until Ctrl-C)
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from leaselect.integrations.apscheduler import LeaderScheduler, current_job


def tick() -> None:
    job = current_job()  # the lease of the tenure this run belongs to, and its stop signal
    for _ in range(3):
        if job.stop.is_set():  # jeopardy, lost or shutting down: stop early
            return
        job.stop.wait(0.01)
    print(
        f"tick fire={job.fire_time:%H:%M:%S.%f} token={job.lease.token} pid={os.getpid()}",
        flush=True,
    )


def main() -> None:
    default = f"sqlite:///{tempfile.gettempdir()}/leaselect-apscheduler-example.db"
    url = sys.argv[1] if len(sys.argv) > 1 else default
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else None
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    leader = LeaderScheduler(scheduler, url, "example-scheduler", ttl=3.0)
    # a start_date shared by every copy puts all copies on the same fire times
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    scheduler.add_job(tick, "interval", seconds=0.5, start_date=start, id="tick")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    leader.start()
    try:
        done.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        leader.shutdown()
    print("scheduler stopped", flush=True)


if __name__ == "__main__":
    main()
