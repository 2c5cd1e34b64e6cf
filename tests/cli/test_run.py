"""``leaselect run`` with real processes on the embedded store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.waiting import eventually

from .helpers import alive, cli, start

# A child that logs "start TOKEN T" / "stop TOKEN T" (CLOCK_BOOTTIME) around its life.
WORKER = """
import os, signal, sys, time
log, token = sys.argv[1], os.environ["LEASELECT_TOKEN"]
def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {token} {time.clock_gettime(time.CLOCK_BOOTTIME)}\\n")
def stop(*_):
    note("stop"); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
note("start")
while True:
    signal.pause()
"""


def _events(log: Path) -> list[tuple[str, int, float]]:
    if not log.exists():
        return []
    return [
        (w, int(t), float(s)) for w, t, s in (x.split() for x in log.read_text().split("\n") if x)
    ]


def test_once_passes_env_and_exit_code(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path}/r.db", tmp_path / "env.txt"
    script = f'echo "$LEASELECT_NAME $LEASELECT_TOKEN $LEASELECT_IDENTITY" > {out}; exit 7'
    result = cli("run", "job", "--url", url, "--once", "--identity", "me", "--", "sh", "-c", script)
    assert result.returncode == 7, result.stderr
    name, token, identity = out.read_text().split()
    assert (name, identity) == ("job", "me") and int(token) > 0
    assert cli("status", "job", "--url", url).returncode == 3  # released after the child exit


def test_two_runners_one_child_and_sigterm_hands_over(tmp_path: Path) -> None:
    url, log = f"sqlite:///{tmp_path}/r.db", tmp_path / "log"
    cmd = ["--", sys.executable, "-c", WORKER, str(log)]
    runners = {
        ident: start("run", "svc", "--url", url, "--ttl", "8", "--identity", ident, *cmd)
        for ident in ("a", "b")
    }
    try:
        assert eventually(lambda: len(_events(log)) >= 1)
        time.sleep(1.0)  # both runners are up; the second must not start a child
        assert [e[0] for e in _events(log)] == ["start"]
        leader = json.loads(cli("status", "svc", "--json", "--url", url).stdout)["leader"]
        runners[leader].send_signal(signal.SIGTERM)
        assert runners[leader].wait(5) == 0
        assert eventually(lambda: len(_events(log)) >= 3, timeout=10)
        (w1, t1, _), (w2, _, stopped), (w3, t3, started) = _events(log)[:3]
        assert (w1, w2, w3) == ("start", "stop", "start")
        assert t3 > t1
        # released: no waiting for the TTL (unreleased, the lease would last >= 5.3 s more)
        assert 0 <= started - stopped < 3.0
    finally:
        for proc in runners.values():
            proc.send_signal(signal.SIGTERM)
        for proc in runners.values():
            proc.wait(10)
    starts = sum(1 for e in _events(log) if e[0] == "start")
    assert starts == sum(1 for e in _events(log) if e[0] == "stop")


def test_kill_9_of_runner_kills_child_and_grandchild(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    child, grandchild = tmp_path / "child.pid", tmp_path / "grandchild.pid"
    script = f"echo $$ > {child}; sleep 300 & echo $! > {grandchild}; wait"
    runner = start("run", "svc", "--url", url, "--ttl", "2", "--", "sh", "-c", script)
    try:
        assert eventually(lambda: grandchild.exists() and grandchild.read_text().strip() != "")
        pids = [int(child.read_text()), int(grandchild.read_text())]
        assert all(alive(pid) for pid in pids)
        runner.kill()
        runner.wait(5)
        assert eventually(lambda: not any(alive(pid) for pid in pids), timeout=3)
    finally:
        if runner.poll() is None:
            runner.kill()


def test_child_exit_releases_and_campaigns_again(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path}/r.db", tmp_path / "tokens"
    runner = start(
        "run",
        "svc",
        "--url",
        url,
        "--ttl",
        "2",
        "--",
        "sh",
        "-c",
        f"echo $LEASELECT_TOKEN >> {out}",
    )
    try:
        assert eventually(lambda: out.exists() and len(out.read_text().split()) >= 2, timeout=6)
        tokens = [int(t) for t in out.read_text().split()]
        assert tokens == sorted(set(tokens))
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(5) == 0


def test_sigterm_kills_a_child_that_ignores_it_by_the_grace(tmp_path: Path) -> None:
    url, pidfile = f"sqlite:///{tmp_path}/r.db", tmp_path / "pid"
    script = f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done"
    runner = start(
        "run", "svc", "--url", url, "--ttl", "3", "--grace", "0.5", "--", "sh", "-c", script
    )
    assert eventually(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    pid = int(pidfile.read_text())
    began = time.monotonic()
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(5) == 0
    assert time.monotonic() - began < 2.0
    assert not alive(pid)
    assert cli("status", "svc", "--url", url).returncode == 3


def test_missing_command_fails_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    result = cli("run", "svc", "--url", url, "--once", "--", str(tmp_path / "no-such-cmd"))
    assert result.returncode == 127
    assert "cannot start" in result.stderr
    assert os.path.exists(tmp_path / "r.db")


def test_run_without_command_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("run", "svc", "--url", f"sqlite:///{tmp_path}/r.db")
    assert result.returncode == 2
    assert isinstance(result, subprocess.CompletedProcess)


def test_kill_9_of_runner_kills_a_descendant_that_left_the_group(tmp_path: Path) -> None:
    url, escaped = f"sqlite:///{tmp_path}/r.db", tmp_path / "escaped.pid"
    script = f"setsid sleep 300 & echo $! > {escaped}; wait"
    runner = start("run", "svc", "--url", url, "--ttl", "2", "--", "sh", "-c", script)
    try:
        assert eventually(lambda: escaped.exists() and escaped.read_text().strip() != "")
        pid = int(escaped.read_text())
        assert eventually(lambda: os.getsid(pid) == pid)  # its own session and group
        runner.kill()
        runner.wait(5)
        assert eventually(lambda: not alive(pid), timeout=3)
    finally:
        if runner.poll() is None:
            runner.kill()


def test_second_signal_kills_at_once(tmp_path: Path) -> None:
    url, pidfile = f"sqlite:///{tmp_path}/r.db", tmp_path / "pid"
    script = f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done"
    runner = start("run", "svc", "--url", url, "--ttl", "15", "--", "sh", "-c", script)
    assert eventually(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    began = time.monotonic()
    runner.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(5) == 0
    assert time.monotonic() - began < 1.5  # the default grace would be 3 s
    assert not alive(int(pidfile.read_text()))
