"""A contender process: campaigns, writes through the fence while leading, logs JSON lines.

``python -m tests.faults.workload URL NAME TTL LOGFILE FENCE [--block-lost S]``

Every line carries ``time.monotonic()`` (``mono``; system-wide on Linux) so the checker can lay
all processes on one timeline; deadlines are converted from the elector's clock to it. SIGTERM
releases and exits; SIGUSR1 makes the writer SIGSTOP its own process right after its next
``is_leader`` check (the worst moment for a GC pause: between checking and acting); SIGUSR2
releases leadership and campaigns again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from typing import Any

from leaselect.clock import SYSTEM_CLOCK
from leaselect.elector import Elector
from leaselect.fencing import SqliteFence, StaleToken
from leaselect.lease import Lease, LostReason

RESOURCE = "faults"
WRITE_EVERY = 0.05
ACCEPTED_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, token INTEGER NOT NULL, holder TEXT NOT NULL,
    max_before INTEGER, mono REAL NOT NULL);
"""


def to_mono(boot: float) -> float:
    """An elector-clock (CLOCK_BOOTTIME) time on the ``time.monotonic()`` scale."""
    return boot + (time.monotonic() - SYSTEM_CLOCK.now())


class Log:
    """Appends one JSON object per line; each line is one write(2), so kill -9 keeps it."""

    def __init__(self, path: str, identity: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.identity = identity

    def __call__(self, event: str, **fields: Any) -> None:
        line = {"ev": event, "id": self.identity, "pid": os.getpid(), "mono": time.monotonic()}
        line.update(fields)
        os.write(self._fd, (json.dumps(line) + "\n").encode())


def record(db: sqlite3.Connection, token: int, holder: str) -> None:
    """The resource's own log of accepted writes (inside the fence's transaction)."""
    row = db.execute("SELECT max(token) FROM accepted").fetchone()
    db.execute(
        "INSERT INTO accepted (token, holder, max_before, mono) VALUES (?, ?, ?, ?)",
        (token, holder, row[0], time.monotonic()),
    )


class Workload:
    """One contender: an Elector in background mode plus a fenced writer thread."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.identity = args.identity or f"w-{os.getpid()}"
        self.log = Log(args.logfile, self.identity)
        self.block_lost = args.block_lost
        self.callbacks = args.callbacks
        self.ttl = args.ttl
        self.fence = SqliteFence(args.fence)
        with sqlite3.connect(args.fence, timeout=5.0) as db:
            db.executescript(ACCEPTED_SCHEMA)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.release = threading.Event()
        self.selfstop = threading.Event()
        self.elector = Elector(
            args.url,
            args.name,
            ttl=args.ttl,
            identity=self.identity,
            on_elected=self._elected,
            on_lost=self._lost,
            on_jeopardy=self._jeopardy,
        )

    def _elected(self, lease: Lease) -> None:
        self.log("elected", token=lease.token, ttl=lease.ttl, deadline=to_mono(lease.deadline))
        self._misbehave("elected")

    def _jeopardy(self, lease: Lease) -> None:
        self.log("jeopardy", token=lease.token, deadline=to_mono(lease.deadline))

    def _lost(self, lease: Lease, reason: LostReason) -> None:
        self.log("lost", token=lease.token, reason=reason.value, deadline=to_mono(lease.deadline))
        if self.block_lost > 0:
            time.sleep(self.block_lost)  # the user's handler hangs: the elector must not care
            self.log("lost_handler_done", token=lease.token)
        self._misbehave("lost")

    def _misbehave(self, when: str) -> None:
        """What ``--callbacks`` asks of the user's callbacks (after the log line)."""
        mode = self.callbacks
        if mode == "raise":
            raise RuntimeError(f"workload: on_{when} raised")
        if mode == "exit" and when == "lost":
            raise SystemExit(3)
        if mode == "block":
            time.sleep(self.ttl * 0.5)
        if mode == "api" and when == "lost":
            # the user asks for the lease back from on_lost: must work or fail at once
            lease = self.elector.acquire(timeout=self.ttl)
            self.log("api_acquire", token=None if lease is None else lease.token)
            self.elector.start()  # and keep campaigning, as before
        if mode == "api" and when == "elected":
            self.log("api_is_leader", value=self.elector.is_leader)

    def write_loop(self) -> None:
        """Write every ~50 ms while leading, checking ``is_leader`` just before each write."""
        while not self.stop.wait(WRITE_EVERY):
            t0 = time.monotonic()
            lease = self.elector.lease
            if lease is None or not self.elector.is_leader:
                continue
            if self.selfstop.is_set():
                self.selfstop.clear()
                self.log("selfstop", token=lease.token, deadline=to_mono(lease.deadline))
                os.kill(os.getpid(), signal.SIGSTOP)
                time.sleep(0.05)  # a syscall: the group stop takes this thread here, not later
                self.log("resumed", token=lease.token)
            self._write(lease, t0)

    def _write(self, lease: Lease, t0: float) -> None:
        token, holder = lease.token, self.identity
        try:
            self.fence.write(RESOURCE, token, holder, lambda db: record(db, token, holder))
            result = "ok"
        except StaleToken:
            result = "stale"
        except sqlite3.Error as exc:
            result = f"error: {exc}"
        self.log("write", token=token, t0=t0, res=result, deadline=to_mono(lease.deadline))

    def _flag(self, event: threading.Event) -> None:
        event.set()
        self.wake.set()

    def run(self) -> None:
        """Campaign until SIGTERM, then release and exit."""
        signal.signal(signal.SIGTERM, lambda *_: self._flag(self.stop))
        signal.signal(signal.SIGUSR1, lambda *_: self.selfstop.set())
        signal.signal(signal.SIGUSR2, lambda *_: self._flag(self.release))
        self.log("start", boot=SYSTEM_CLOCK.now())
        writer = threading.Thread(target=self.write_loop, daemon=True)
        writer.start()
        self.elector.start()
        while not self.stop.is_set():
            self.wake.wait()
            self.wake.clear()
            if self.release.is_set() and not self.stop.is_set():
                self.release.clear()
                self.log("release")
                self.elector.release()
                self.elector.start()
        writer.join(2.0)
        self.elector.close()
        self.log("exit")


def _log_mono(record: logging.LogRecord) -> bool:
    record.mono = time.monotonic()
    return True


def main(argv: list[str] | None = None) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_log_mono)
    handler.setFormatter(logging.Formatter("%(mono).3f %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    parser = argparse.ArgumentParser(prog="python -m tests.faults.workload")
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("ttl", type=float)
    parser.add_argument("logfile")
    parser.add_argument("fence")
    parser.add_argument("--identity")
    parser.add_argument("--block-lost", type=float, default=0.0)
    parser.add_argument("--callbacks", default="", choices=["", "raise", "exit", "block", "api"])
    Workload(parser.parse_args(argv)).run()


if __name__ == "__main__":
    main()
