"""The contenders of one run: processes, their proxies, their logs, and who leads now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaselect.urls import parse
from tests.support.proxy import Proxy, proxied_url

from .netns import Host, Net

REPO = Path(__file__).resolve().parents[2]
Event = dict[str, Any]


@dataclass
class Contender:
    """One workload process and the proxies its store URL points at."""

    identity: str
    proc: subprocess.Popen[bytes]
    proxies: list[Proxy] = field(default_factory=list)
    host: Host | None = None  # its own network namespace: cuts are real partitions

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cut(self) -> None:
        if self.host is not None:
            self.host.cut()
            return
        for proxy in self.proxies:
            proxy.hold()

    def heal(self) -> None:
        if self.host is not None:
            self.host.heal()
        for proxy in self.proxies:
            proxy.heal()

    def slow(self, delay: float) -> None:
        """Delay every chunk to and from the store by ``delay`` seconds (0: no delay)."""
        for proxy in self.proxies:
            proxy.delay = delay


class Cluster:
    """Starts ``size`` contenders for election ``name`` on ``url``, each behind its own proxies."""

    def __init__(
        self,
        url: str,
        name: str,
        ttl: float,
        run_dir: Path,
        size: int = 3,
        net: Net | None = None,
        callbacks: tuple[str, ...] = (),
    ) -> None:
        self.url, self.name, self.ttl, self.run_dir = url, name, ttl, run_dir
        self.size = size
        self.net = net
        self.callbacks = callbacks  # workload --callbacks of each contender, cycled
        self.networked = not url.startswith("sqlite:")
        self.fence = str(run_dir / "fence.db")
        self.log_path = run_dir / "events.jsonl"
        self.contenders: list[Contender] = []
        self.deaths: dict[str, float] = {}
        self._serial = 0

    def start(self, block_lost: float = 0.0, timeout: float = 20.0) -> None:
        """Spawn the contenders and wait (up to ``timeout``) until each has logged ``start``."""
        for _ in range(self.size):
            self.spawn(block_lost)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({ev["id"] for ev in self.events() if ev["ev"] == "start"}) >= self.size:
                return
            time.sleep(0.05)

    def spawn(self, block_lost: float = 0.0) -> Contender:
        """Start one more contender (a fresh identity)."""
        self._serial += 1
        identity = f"w{self._serial}"
        proxies: list[Proxy] = []
        url = self.url
        host = self.net.host() if self.net is not None and self.networked else None
        if self.networked:
            hosts = parse(self.url).hosts
            listen = self.net.gateway if self.net is not None and host else "127.0.0.1"
            proxies = [Proxy((name, port or 0), listen=listen) for name, port in hosts]
            url = proxied_url(self.url, proxies)
        argv = [
            sys.executable,
            "-m",
            "tests.faults.workload",
            url,
            self.name,
            str(self.ttl),
            str(self.log_path),
            self.fence,
            "--identity",
            identity,
            "--block-lost",
            str(block_lost),
            "--callbacks",
            self.callbacks[(self._serial - 1) % len(self.callbacks)] if self.callbacks else "",
        ]
        if host is not None:
            argv = host.wrap(argv)
        err = open(self.run_dir / f"{identity}.stderr", "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
        contender = Contender(identity, proc, proxies, host)
        self.contenders.append(contender)
        return contender

    def live(self) -> list[Contender]:
        return [c for c in self.contenders if c.proc.poll() is None]

    def kill(self, contender: Contender) -> float:
        """kill -9; the time of death on the monotonic timeline."""
        contender.heal()
        os.kill(contender.pid, signal.SIGKILL)
        died = time.monotonic()
        contender.proc.wait()
        self.deaths[contender.identity] = died
        return died

    def events(self) -> list[Event]:
        """Every event logged so far, in log order."""
        if not self.log_path.exists():
            return []
        with self.log_path.open() as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def leader(self) -> Contender | None:
        """The live contender that led and tried to write within the last 0.3 s."""
        now = time.monotonic()
        state: dict[str, int | None] = {}
        wrote: dict[str, float] = {}
        for ev in self.events():
            if ev["ev"] == "elected":
                state[ev["id"]] = ev["token"]
            elif ev["ev"] == "lost":
                state[ev["id"]] = None
            elif ev["ev"] == "write":  # rejected too: after Redis lost its data, all are
                wrote[ev["id"]] = ev["mono"]
        for contender in self.live():
            ident = contender.identity
            if state.get(ident) is not None and now - wrote.get(ident, 0.0) < 0.3:
                return contender
        return None

    def await_leader(self, timeout: float) -> Contender | None:
        """Wait (polling the logs: this is the test harness) for a writing leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                return leader
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        """SIGTERM every contender (release and exit), SIGKILL stragglers, close proxies."""
        for contender in self.contenders:
            contender.heal()
            if contender.proc.poll() is None:
                os.kill(contender.pid, signal.SIGCONT)
                contender.proc.terminate()
        for contender in self.contenders:
            try:
                contender.proc.wait(self.ttl + 5)
            except subprocess.TimeoutExpired:
                self.deaths[contender.identity] = time.monotonic()
                contender.proc.kill()
                contender.proc.wait()
            for proxy in contender.proxies:
                proxy.close()
