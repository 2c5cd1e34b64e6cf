"""Helpers for tests that start a private server of their own (TLS, auth, Unix sockets)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

import redis

import leaselect


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_argv(port: int, directory: object, *extra: str) -> list[str]:
    """A throwaway redis-server on 127.0.0.1:``port``: no snapshots, no append-only file."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    return [*argv, "--appendonly", "no", "--dir", str(directory), *extra]


class FileLock(NamedTuple):
    """One held lock of /proc/locks: who, how, on which file (``maj:min:inode``), which bytes."""

    pid: int
    kind: str  # READ or WRITE
    file: str
    start: int
    end: int  # -1: to the end of the file


def held_locks() -> list[FileLock]:
    """Every lock held on this host (waiters left out), from /proc/locks."""
    held = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields or len(fields) < 8:
                continue
            end = -1 if fields[7] == "EOF" else int(fields[7])
            held.append(FileLock(int(fields[4]), fields[3], fields[5], int(fields[6]), end))
    return held


def write_lock_holders(pids: Collection[int]) -> set[int]:
    """Those of ``pids`` that hold a POSIX or flock lock for writing."""
    return {lock.pid for lock in held_locks() if lock.kind == "WRITE" and lock.pid in pids}


def stop_clear_of_write_locks(pids: Collection[int], tries: int = 50) -> None:
    """SIGSTOP every process of ``pids``, resuming and stopping them again while one of them
    was stopped holding a file lock for writing.

    A process stopped inside the embedded store's write transaction (a few milliseconds per
    renewal) freezes every election on that file until it resumes: a documented limit of the
    embedded store (docs/embedded.md), not the pause a test means to inject."""
    for _ in range(tries):
        _signal_each(pids, signal.SIGSTOP)
        time.sleep(0.005)  # a stop is delivered asynchronously
        if not write_lock_holders(pids):
            return
        _signal_each(pids, signal.SIGCONT)
        time.sleep(0.01)
    _signal_each(pids, signal.SIGSTOP)


def _signal_each(pids: Collection[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; always reaped."""
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def elect_and_hand_over(url: str, name: str, ttl: float, secret: str = "") -> None:
    """A leader, a waiter that stays one, a release, the waiter elected with a greater token;
    ``secret`` never shows in either elector's or backend's repr."""
    leader, waiter = (leaselect.Elector(url, name, ttl=ttl) for _ in range(2))
    try:
        first = leader.acquire(timeout=10)
        assert first is not None
        waiter.start()
        time.sleep(0.3)
        assert not waiter.is_leader
        leader.release()
        deadline = time.monotonic() + 5
        while waiter.lease is None and time.monotonic() < deadline:
            time.sleep(0.01)
        taken = waiter.lease
        assert taken is not None and taken.token > first.token
        if secret:
            assert secret not in repr(leader.backend) + repr(leader) + repr(waiter)
    finally:
        leader.close()
        waiter.close()


class PrivateRedis:
    """A redis-server of this test's own on 127.0.0.1, with extra arguments; restartable."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port, self.dir, self.args = free_port(), tmp_path, args
        self.server: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = redis_server_argv(self.port, self.dir, *self.args)
        self.server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            assert self.server.poll() is None, "the private redis-server exited"
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert time.monotonic() < deadline, "the private redis-server never answered"
            time.sleep(0.05)
        client.close()

    def crash(self) -> None:
        """kill -9: without persistence every key is gone."""
        assert self.server is not None
        self.server.kill()
        self.server.wait()
        self.server = None

    def close(self) -> None:
        if self.server is not None:
            stop(self.server)
