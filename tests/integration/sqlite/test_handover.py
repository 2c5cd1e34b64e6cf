"""Hand-over on the embedded store must not hang on one waiter or one datagram."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.private import stop_clear_of_write_locks
from tests.support.sqlite_worker import (
    Worker,
    require,
    shared_dir,
    throwaway_user,
    waiters,
)
from tests.support.waiting import eventually

TTL = 10.0  # long, so a hand-over that waits for the lease's expiry shows plainly
QUICK = 1.0  # a hand-over that does not depend on the stuck waiter takes far less

# Binds the given wake-up address ("@name": abstract) and swallows what arrives.
SQUAT = """
import os, socket, sys, time
address = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    if not address.startswith("@") and os.path.exists(address):
        os.unlink(address)
    sock.bind(b"\\0" + address[1:].encode() if address.startswith("@") else address)
except OSError as exc:
    print("denied", type(exc).__name__, flush=True)
    sys.exit()
print("bound", flush=True)
sock.settimeout(8)
try:
    while True:
        sock.recv(64)
except OSError:
    pass
"""

# Sends datagrams as fast as it can to the given wake-up addresses ("@name": abstract).
FLOOD = """
import os, socket, sys, time
targets = [b"\\0" + a[1:].encode() if a.startswith("@") else a for a in sys.argv[2:]]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setblocking(False)
sent = 0
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for target in targets:
        try:
            sock.sendto(b"w", target)
            sent += 1
        except OSError:
            pass
print(len(targets), sent, flush=True)
"""


def _targets(path: str, name: str) -> list[str]:
    """The waiters' wake-up addresses as a local process would reach them."""
    directory = f"{path}-wake"
    return [
        f"{directory}/{address}" if os.path.isdir(directory) else f"@{address}"
        for address in waiters(path, name)
    ]


def _queue(url: str, path: str, name: str, count: int) -> list[Worker]:
    """Start ``count`` waiters, each queued after the previous one."""
    queued = []
    for position in range(1, count + 1):
        queued.append(Worker(url, name, TTL))

        def registered(count: int = position) -> bool:
            return len(waiters(path, name)) == count

        assert eventually(registered, 10, step=0.02), position
    return queued


def _handover(leader: Worker, successor: Worker) -> float:
    """Release ``leader``; seconds until ``successor`` is elected."""
    count = len(leader.events)
    leader.send("release")
    lost = leader.wait_for("lost", 5, after=count)
    elected = successor.wait_for("elected", TTL + 2)
    assert lost is not None and elected is not None, (leader.events, successor.events)
    return float(elected["t"]) - float(lost["t"])


@contextmanager
def _workers(*workers: Worker) -> Iterator[None]:
    try:
        yield
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.stop()


def test_a_stopped_first_waiter_does_not_stall_the_handover(tmp_path: Path, name: str) -> None:
    path = f"{tmp_path}/leases.db"
    url = f"sqlite://{path}"
    leader = Worker(url, name, TTL)
    assert leader.wait_for("elected", 10) is not None
    first, second = _queue(url, path, name, 2)
    with _workers(leader, first, second):
        stop_clear_of_write_locks([first.proc.pid])
        assert _handover(leader, second) < QUICK


def test_a_crashed_waiters_address_cannot_be_squatted(name: str) -> None:
    with throwaway_user() as user, shared_dir() as directory:
        path = f"{directory}/leases.db"
        url = f"sqlite://{path}"
        leader = Worker(url, name, TTL)
        assert leader.wait_for("elected", 10) is not None
        first, second = _queue(url, path, name, 2)
        with _workers(leader, first, second):
            address = _targets(path, name)[0]
            first.stop()
            squatter = user.run(SQUAT, address)
            try:
                assert squatter.stdout is not None
                outcome = squatter.stdout.readline().split()
                took = _handover(leader, second)
                assert took < QUICK and outcome[:1] == ["denied"], (took, outcome)
            finally:
                squatter.kill()
                squatter.wait(5)


@contextmanager
def _netns() -> Iterator[str]:
    namespace = f"ls5-emb-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True)
    try:
        yield namespace
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False, capture_output=True)


def test_a_waiter_in_another_network_namespace_is_woken(tmp_path: Path, name: str) -> None:
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "ip netns needs root and ip")
    path = f"{tmp_path}/leases.db"
    url = f"sqlite://{path}"
    with _netns() as namespace:
        leader = Worker(url, name, TTL)
        assert leader.wait_for("elected", 10) is not None
        first = Worker(url, name, TTL, prefix=["ip", "netns", "exec", namespace])
        with _workers(leader, first):
            assert eventually(lambda: len(waiters(path, name)) == 1, 10, step=0.02)
            assert _handover(leader, first) < QUICK


def _flood_changes(url: str, path: str, name: str, run_flood: object) -> tuple[int, str]:
    leader = Worker(url, name, 0.5)
    assert leader.wait_for("elected", 10) is not None
    queued = [Worker(url, name, 0.5) for _ in range(2)]
    with _workers(leader, *queued):
        assert eventually(lambda: len(waiters(path, name)) == 2, 10, step=0.02)
        count = len(leader.events)
        assert callable(run_flood)
        flood = run_flood(FLOOD, "5", *_targets(path, name))
        assert flood.stdout is not None
        report = flood.stdout.read().strip()
        flood.wait(10)
        time.sleep(0.2)
        changes = sum(1 for e in leader.events[count:] if e["event"] == "lost")
        return changes, report


def test_a_flood_from_another_user_cannot_reach_the_waiters(name: str) -> None:
    with throwaway_user() as user, shared_dir() as directory:
        path = f"{directory}/leases.db"
        changes, report = _flood_changes(f"sqlite://{path}", path, name, user.run)
        targets, sent = map(int, report.split())
        assert changes == 0 and sent == 0, (changes, targets, sent)


def test_a_flood_from_the_same_user_costs_no_lease(tmp_path: Path, name: str) -> None:
    path = f"{tmp_path}/leases.db"

    def run_as_me(code: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["/usr/bin/python3", "-c", code, *args], stdout=subprocess.PIPE, text=True
        )

    changes, report = _flood_changes(f"sqlite://{path}", path, name, run_as_me)
    targets, sent = map(int, report.split())
    assert targets >= 2 and sent > 1000, report
    assert changes == 0, (changes, report)
