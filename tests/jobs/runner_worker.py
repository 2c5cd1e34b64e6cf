"""One process of the multi-process ``leader_only`` tests.

Usage: python -m tests.jobs.runner_worker URL NAME LOGFILE TTL MODE
Appends ``start PID TOKEN T`` when its function starts and ``stop PID TOKEN T`` when the
function sees ``stop`` (CLOCK_BOOTTIME, shared by the host's processes). MODE:
  slow-callback   a user on_elected that takes 3 s (it must not delay ``stop``)
  two-callers     two threads call the same decorated function at once
  sigint          ``work()`` in the main thread, interrupted by SIGINT (KeyboardInterrupt);
                  logs ``interrupted PID`` and lingers 3 s (a function left running would show)
Runs until SIGTERM (or SIGINT in ``sigint`` mode).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

from leaselect import SYSTEM_CLOCK, Lease
from leaselect.runner import leader_only
from leaselect.signalmask import process_signals_blocked


def main() -> None:
    url, name, path, ttl, mode = *sys.argv[1:4], float(sys.argv[4]), sys.argv[5]
    pid = os.getpid()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(line: str) -> None:
        os.write(fd, f"{line} {SYSTEM_CLOCK.now():.6f}\n".encode())

    def slow(lease: Lease) -> None:
        time.sleep(3.0 if mode == "slow-callback" else 0)

    @leader_only(url, name, ttl=ttl, on_elected=slow)
    def work(lease: Lease, stop: threading.Event) -> None:
        log(f"start {pid} {lease.token}")
        stop.wait()
        log(f"stop {pid} {lease.token}")

    def call() -> None:
        try:
            work()
        except Exception as exc:  # a refused concurrent call
            log(f"refused {pid} {type(exc).__name__}")

    if mode == "sigint":
        try:
            work()
        except KeyboardInterrupt:
            log(f"interrupted {pid}")
        time.sleep(3.0)
        os.close(fd)
        return

    def on_sigterm(*_: object) -> None:
        log(f"sigterm {pid}")  # a worker that outlives SIGTERM: did its handler run?
        work.stop()

    signal.signal(signal.SIGTERM, on_sigterm)
    callers = [threading.Thread(target=call) for _ in range(2 if mode == "two-callers" else 1)]
    with process_signals_blocked():  # SIGTERM must reach this thread, parked in join()
        for caller in callers:
            caller.start()
    for caller in callers:
        caller.join()
    log(f"exit {pid} 0")
    os.close(fd)


if __name__ == "__main__":
    main()
