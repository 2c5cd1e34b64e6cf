"""``leaselect demo``: three contenders on a throw-away embedded store, a crash and a handover.

Times come from the workers' CLOCK_BOOTTIME stamps (shared by every process of the host), not
from the screen refresh.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

from ..clock import SYSTEM_CLOCK
from .demo_view import View

TTL = 2.0
NAME = "demo"
WORKERS = ("alpha", "bravo", "charlie")
Event = dict[str, Any]


class Demo:
    """Runs the scenario; every wait is bounded."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.procs: dict[str, subprocess.Popen[str]] = {}
        for name in WORKERS:
            cmd = [sys.executable, "-m", "leaselect.cli.demo_worker", url, NAME, name, str(TTL)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            self.procs[name] = proc
            threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()
        self.view = View(list(WORKERS))

    def _read(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, wanted: Callable[[Event], bool], timeout: float) -> Event | None:
        """Show events until one is ``wanted`` (returned) or ``timeout`` passes (None)."""
        end = SYSTEM_CLOCK.now() + timeout
        while (left := end - SYSTEM_CLOCK.now()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            self._show(event)
            if wanted(event):
                return event
        return None

    def _show(self, event: Event) -> None:
        who, kind = event["id"], event["event"]
        if kind == "elected":
            self.view.set(who, f"LEADER  token={event['token']}")
        elif kind == "lost":
            self.view.set(who, f"waiting (lost token={event['token']}: {event['reason']})")
        elif kind == "releasing":
            self.view.set(who, "releasing...")

    def elected(self, excluding: str | None, timeout: float) -> Event:
        """The next election of someone other than ``excluding``."""
        event = self.wait_for(lambda e: e["event"] == "elected" and e["id"] != excluding, timeout)
        if event is None:
            raise TimeoutError(f"no new leader within {timeout:g}s")
        return event

    def failover(self, leader: str) -> tuple[float, Event]:
        """SIGKILL the leader; seconds until someone else is elected."""
        self.wait_for(lambda e: False, 1.0)
        self.view.note(f"* kill -9 {leader} (the leader)")
        killed_at = SYSTEM_CLOCK.now()
        self.procs[leader].send_signal(signal.SIGKILL)
        self.view.set(leader, "killed (SIGKILL)")
        event = self.elected(leader, 3 * TTL + 2)
        return event["t"] - killed_at, event

    def handover(self, leader: str) -> tuple[float, Event]:
        """Ask the leader to release; seconds from its release to the next election."""
        self.wait_for(lambda e: False, 1.0)
        self.view.note(f"* {leader} releases leadership")
        self.procs[leader].send_signal(signal.SIGUSR1)
        releasing = self.wait_for(lambda e: e["event"] == "releasing", 5.0)
        if releasing is None:
            raise TimeoutError(f"{leader} did not start releasing")
        event = self.elected(leader, 5.0)
        return event["t"] - releasing["t"], event

    def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after 5 s)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def demo() -> int:
    """Run the demo; 0 when both measurements were taken."""
    started = SYSTEM_CLOCK.now()
    with tempfile.TemporaryDirectory(prefix="leaselect-demo-") as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        print(f"leaselect demo: 3 contenders for {NAME!r}, TTL {TTL:g}s, store {url}")
        demo = Demo(url)
        try:
            first = demo.elected(None, 10.0)
            crash, second = demo.failover(first["id"])
            demo.view.note(f"  failover: {second['id']} elected {crash:.3f}s after the kill")
            calm, third = demo.handover(second["id"])
            demo.view.note(f"  handover: {third['id']} elected {calm:.3f}s after the release")
        except TimeoutError as exc:
            print(f"leaselect demo: failed: {exc}", file=sys.stderr)
            return 1
        finally:
            demo.close()
    print(
        f"summary: failover after kill -9 {crash:.3f}s (TTL {TTL:g}s, {crash / TTL:.0%} of TTL); "
        f"graceful handover {calm * 1000:.1f}ms; tokens {first['token']} -> {second['token']} -> "
        f"{third['token']}; demo took {SYSTEM_CLOCK.now() - started:.1f}s"
    )
    return 0
