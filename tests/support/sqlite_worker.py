"""A contender process for the embedded-store tests, and ``Worker``, its driver.

``python -m tests.support.sqlite_worker URL NAME TTL`` campaigns with ``start()`` and
prints one JSON line per event (``ready``, ``elected``, ``lost``, ``error``); it reads commands
from stdin: ``release`` steps down and stops campaigning, ``start`` campaigns again, ``exit``
(or end of input) closes the elector and exits.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import IO, Any

import pytest

import leaselect
from leaselect.clock import SYSTEM_CLOCK

WORKER = [sys.executable, "-m", "tests.support.sqlite_worker"]


def emit(event: str, **fields: object) -> None:
    """One JSON event line with the host's CLOCK_BOOTTIME time."""
    print(json.dumps({"event": event, "t": SYSTEM_CLOCK.now(), **fields}), flush=True)


def main() -> None:
    url, name, ttl = sys.argv[1:4]
    try:
        elector = leaselect.Elector(
            url,
            name,
            ttl=float(ttl),
            on_elected=lambda lease: emit("elected", token=lease.token),
            on_lost=lambda lease, reason: emit("lost", token=lease.token, reason=reason.value),
        )
    except leaselect.LeaselectError as exc:
        emit("error", kind=type(exc).__name__, message=str(exc))
        return
    emit("ready")
    elector.start()
    for line in sys.stdin:
        command = line.strip()
        if command == "release":
            elector.release()
        elif command == "start":
            elector.start()
        elif command == "exit":
            break
    elector.close()
    emit("closed")


class Worker:
    """A running worker process and the events it printed so far."""

    def __init__(self, url: str, name: str, ttl: float, prefix: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*(prefix or []), *WORKER, url, name, str(ttl)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self.events.append({"event": "eof"})
            self._changed.notify_all()

    def wait_for(self, event: str, timeout: float, after: int = 0) -> dict[str, Any] | None:
        """The first ``event`` at index ``after`` or later, waiting up to ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._find(event, after) is not None, timeout)
            item = self._find(event, after)
            return item if item is not None and item["event"] == event else None

    def _find(self, event: str, after: int) -> dict[str, Any] | None:
        for item in self.events[after:]:
            if item["event"] in (event, "eof"):
                return item
        return None

    def send(self, command: str) -> None:
        """Send one stdin command."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Kill the process (also a stopped one) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)


@dataclass(frozen=True)
class User:
    """A throwaway OS user."""

    name: str
    uid: int
    gid: int

    def run(self, code: str, *args: str) -> subprocess.Popen[str]:
        """Run ``code`` with the system Python (standard library only) as this user."""
        return subprocess.Popen(
            ["/usr/bin/python3", "-c", code, *args],
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            stdout=subprocess.PIPE,
            text=True,
            cwd="/",
        )


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires this test to run: {reason}")
    pytest.skip(reason)


@contextmanager
def throwaway_user(group: str | None = None) -> Iterator[User]:
    """Create a system user (optionally also in ``group``) for one test, remove it afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        _unavailable("creating a throwaway OS user needs root and useradd")
    name = f"lsetest{secrets.token_hex(4)}"
    extra = ["--groups", group] if group else []
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", *extra, name],
        check=True,
        capture_output=True,
    )
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@contextmanager
def throwaway_group() -> Iterator[str]:
    """Create a system group for one test and remove it afterwards."""
    if os.geteuid() != 0 or shutil.which("groupadd") is None:
        _unavailable("creating a throwaway OS group needs root and groupadd")
    name = f"lsetestg{secrets.token_hex(4)}"
    subprocess.run(["groupadd", "--system", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["groupdel", name], check=False, capture_output=True)


def as_user(user: User) -> list[str]:
    """A command prefix that runs the rest as ``user`` with its groups."""
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups"]


@contextmanager
def shared_dir() -> Iterator[str]:
    """A directory every local user may enter (like /var/lib/myapp), removed afterwards."""
    path = tempfile.mkdtemp(prefix="leaselect-shared-")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def require(condition: bool, reason: str) -> None:
    """Skip (fail under CI=true) when the machine cannot run the test."""
    if not condition:
        _unavailable(reason)


def waiters(path: str, name: str) -> list[str]:
    """The wake-up addresses queued in election ``name`` of the store at ``path``."""
    with closing(sqlite3.connect(path, timeout=5)) as db:
        rows = db.execute("SELECT address FROM waiter WHERE name=? ORDER BY seq", (name,))
        return [address for (address,) in rows]


if __name__ == "__main__":
    main()
