"""``leaselect run`` takes SIGINT/SIGTERM on its main thread, leader or follower, whatever
threads the store's client started: every other thread blocks them, so the kernel cannot hand
one to a thread whose delivery leaves the main thread parked; the command blocks nothing."""

from __future__ import annotations

import signal
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.signals import blocked_signals
from tests.support.stores import url_for
from tests.support.waiting import eventually

from .helpers import start

NEEDED: set[int] = {signal.SIGINT, signal.SIGTERM}
COMMAND = (
    "import pathlib, time\n"
    "pathlib.Path({out!r}).write_text(open('/proc/self/status').read())\n"
    "time.sleep(60)\n"
)


def deaf_threads(pid: int) -> dict[int, set[int]]:
    """Threads of ``pid`` other than its main thread that would take SIGINT or SIGTERM."""
    deaf = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        if int(task.name) == pid:
            continue
        try:
            missing = NEEDED - blocked_signals((task / "status").read_text())
        except FileNotFoundError:
            continue
        if missing:
            deaf[int(task.name)] = missing
    return deaf


@pytest.mark.parametrize("kind", ["sqlite", "zookeeper"])
def test_signals_reach_the_main_thread_of_run(kind: str, tmp_path: Path) -> None:
    url, name = url_for(kind, str(tmp_path)), f"sig-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "status"
    runners = [
        start(
            "run",
            name,
            "--url",
            url,
            "--ttl",
            "5",
            "--",
            sys.executable,
            "-c",
            COMMAND.format(out=str(out)),
        )
        for _ in range(2)
    ]
    try:
        assert eventually(lambda: out.exists() and "SigBlk" in out.read_text(), timeout=15)
        assert not NEEDED & blocked_signals(out.read_text()), "the command inherited a mask"
        for runner in runners:
            main = blocked_signals(Path(f"/proc/{runner.pid}/task/{runner.pid}/status").read_text())
            assert not NEEDED & main
            assert len(list(Path(f"/proc/{runner.pid}/task").iterdir())) > 1
            assert deaf_threads(runner.pid) == {}
    finally:
        for runner in runners:
            runner.send_signal(signal.SIGTERM)
        codes = [runner.wait(15) for runner in runners]
    assert codes == [0, 0]
