"""``leaselect run NAME -- CMD``: run a command only while this process leads.

The start rule: the command starts only while this process leads, is not in jeopardy and has
more than ``grace`` seconds left before its local deadline. So once it was stopped for jeopardy
or loss, it starts again only in a new tenure, or after renewals recovered with more than
``grace`` left (never again and again under a lease about to end: the restart storm).

A running command gets SIGTERM ``grace`` seconds before the local deadline (reached only when
renewals stall) and SIGKILL at the deadline; a lease taken by someone else kills it at once.
After a tenure we campaign again unless ``--once``.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import signal
import threading
from dataclasses import dataclass
from types import FrameType

from ..clock import SYSTEM_CLOCK
from ..elector import Elector
from ..errors import ConfigError
from ..lease import Lease, LostReason
from ..logfields import DefaultFields, with_fields
from ..probes import ProbeServer, serve
from ..signalmask import process_signals_blocked
from ..tenure import Tenure
from ..timing import Timing
from .child import Child
from .config import CREDENTIALS

log = logging.getLogger("leaselect.cli")

MAX_DEFAULT_GRACE = 5.0
KILL_BOUND = 0.5  # the guard must have killed everything this long after being told to

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
HEALTHY_RUN = 10.0
EXIT_INTERRUPTED = 130  # 128 + SIGINT


@dataclass(frozen=True)
class RunOptions:
    """What ``leaselect run`` was asked to do."""

    url: str
    name: str
    command: list[str]
    ttl: float = 15.0
    identity: str | None = None
    metadata: str | None = None
    grace: float | None = None
    once: bool = False
    keep_credentials: bool = False
    health_port: int | None = None  # serve leaselect.probes there (and /metrics)
    health_host: str = "127.0.0.1"

    def timing(self) -> Timing:
        """The lease timing with the grace, checked against the TTL by ``Timing`` (the one
        ``stop_grace`` rule; default grace min(ttl / 5, 5 s))."""
        grace = min(self.ttl / 5, MAX_DEFAULT_GRACE) if self.grace is None else self.grace
        try:
            return Timing(ttl=self.ttl, stop_grace=grace)
        except ConfigError as exc:
            raise cli_error(exc) from None


_OPTIONS = {
    "stop_grace": "--grace",
    "ttl": "--ttl",
    "identity": "--identity",
    "metadata": "--metadata",
}
_SETTING = re.compile(r"(?<![-\w])(" + "|".join(_OPTIONS) + r")\b")


def cli_error(exc: ConfigError) -> ConfigError:
    """``exc`` with the library's setting names replaced by the options the user typed."""
    return ConfigError(_SETTING.sub(lambda m: _OPTIONS[m.group(1)], str(exc)))


class Ending(enum.Enum):
    """Why a tenure's command ended."""

    EXITED = "exited"
    LOST = "lost"
    STOPPED = "stopped"


class Runner:
    """Drives one ``leaselect run``; all process control happens on the main thread."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        timing = options.timing()
        self.grace = timing.stop_grace
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.signals = 0
        self.interrupted = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        try:
            # every thread but this one blocks SIGINT/SIGTERM, so they always reach this one
            with process_signals_blocked():
                self.elector = Elector(
                    options.url,
                    options.name,
                    timing=timing,
                    identity=options.identity,
                    metadata=options.metadata,
                    on_elected=self._poke,
                    on_lost=self._on_lost,
                    on_jeopardy=self._poke,
                )
        except ConfigError as exc:
            raise cli_error(exc) from None
        self._fields = self.elector._fields
        for handler in logging.getLogger().handlers:  # --log-format json: every record of ours
            for record_filter in handler.filters:
                if isinstance(record_filter, DefaultFields):
                    record_filter.defaults.update(self._fields)
        self._backoff = BACKOFF_START
        self._probes: ProbeServer | None = None

    def _serve_probes(self) -> None:
        """``--health-port``: the probes, and /metrics when prometheus_client is installed."""
        port = self.options.health_port
        if port is None:
            return
        registry = None
        try:
            from prometheus_client import CollectorRegistry

            from ..metrics.prometheus import instrument

            registry = CollectorRegistry()
            instrument(registry)
        except ImportError:
            log.info("prometheus_client is not installed: no /metrics")
        try:
            self._probes = serve([self.elector], port, self.options.health_host, registry=registry)
        except ConfigError as exc:
            raise ConfigError(f"--health-port/--health-host: {exc}") from None
        log.info("probes on %s:%d", self.options.health_host, self._probes.port)

    def _poke(self, lease: Lease) -> None:
        self.wake.set()

    def _on_lost(self, lease: Lease, reason: LostReason) -> None:
        extra = with_fields(self._fields, token=lease.token, reason=reason.value)
        log.warning("lost %r token %d: %s", lease.name, lease.token, reason.value, extra=extra)
        self.wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.interrupted = self.interrupted or signum == signal.SIGINT
        self.signals += 1
        self.stopping.set()
        self.wake.set()

    def run(self) -> int:
        """Campaign, supervise, repeat; the exit code of ``leaselect run``."""
        code = 0
        try:
            self.elector.leader()  # fail fast (exit 2) if the store is unreachable at start
            self._serve_probes()
            self.elector.start()
            while not self.stopping.is_set():
                lease = self._await_lease()
                if lease is None:
                    break
                code, ending = self._tenure(lease)
                if ending is Ending.STOPPED:
                    break
                if self.options.once:
                    break
                if ending is Ending.EXITED:
                    self._pause_after_exit()
            if self.interrupted:  # Ctrl-C: 130, as in every command
                return EXIT_INTERRUPTED
            return code if self.options.once else 0
        finally:
            self.elector.close()
            if self._probes is not None:
                self._probes.close()

    def _await_lease(self) -> Lease | None:
        """The lease once the start rule allows a start; None when asked to stop."""
        while not self.stopping.is_set():
            self.wake.clear()
            lease = self.elector.lease
            if lease is None:
                self.wake.wait()  # woken by on_elected (or a signal)
                continue
            tenure = Tenure(lease, SYSTEM_CLOCK, self.grace)
            if not self.elector.in_jeopardy and not tenure.stop_due():
                return lease
            # leading, but in jeopardy or too close to the deadline: wait for on_lost, or look
            # again for renewals that recovered (there is no callback for a recovery)
            SYSTEM_CLOCK.wait(self.wake, max(self.grace / 4, 0.01))
        return None

    def _tenure(self, lease: Lease) -> tuple[int, Ending]:
        log.info(
            "leading with token %d: starting %s",
            lease.token,
            self.options.command[0],
            extra=with_fields(self._fields, token=lease.token),
        )
        child = Child(self.options.command, self._child_env(lease), self.wake)
        tenure = Tenure(lease, SYSTEM_CLOCK, self.grace)
        started = SYSTEM_CLOCK.now()
        hard_stop: float | None = None
        killed_at: float | None = None
        while not child.done.is_set():
            self.wake.clear()
            now = SYSTEM_CLOCK.now()
            deadline = tenure.deadline
            if self.stopping.is_set() and (hard_stop is None or self.signals > 1):
                hard_stop = now if self.signals > 1 else min(deadline, now + self.grace)
            kill_at = deadline if hard_stop is None else min(hard_stop, deadline)
            term_at = deadline - tenure.grace if hard_stop is None else now
            if now >= term_at:
                child.terminate()
            if now >= kill_at:
                child.kill()
                killed_at = now if killed_at is None else killed_at
                if now >= killed_at + KILL_BOUND:
                    child.force()
            SYSTEM_CLOCK.wait(self.wake, _next_wait(child, term_at, kill_at, killed_at, now))
        return child.code or 0, self._ending(lease, child, started)

    def _ending(self, lease: Lease, child: Child, started: float) -> Ending:
        now = SYSTEM_CLOCK.now()
        if self.stopping.is_set():
            return Ending.STOPPED
        if now >= lease.deadline or child.terminated:
            log.warning(
                "command stopped (exit %s); it starts again in a new tenure or once renewals "
                "recover with more than --grace left",
                child.code,
            )
            return Ending.LOST
        log.info("command exited with %s while leading: releasing", child.code)
        if now - started >= HEALTHY_RUN:
            self._backoff = BACKOFF_START
        return Ending.EXITED

    def _pause_after_exit(self) -> None:
        """Release, wait a growing backoff (against crash loops), campaign again."""
        self.elector.release()
        log.info("campaigning again in %.1fs", self._backoff)
        SYSTEM_CLOCK.wait(self.stopping, self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        if not self.stopping.is_set():
            self.elector.start()

    def _child_env(self, lease: Lease) -> dict[str, str]:
        env = dict(os.environ)
        if not self.options.keep_credentials:
            for key in CREDENTIALS:
                env.pop(key, None)
        env.update(
            LEASELECT_NAME=lease.name,
            LEASELECT_TOKEN=str(lease.token),
            LEASELECT_IDENTITY=lease.identity,
        )
        return env


def _next_wait(
    child: Child, term_at: float, kill_at: float, killed_at: float | None, now: float
) -> float | None:
    if child.forced:
        return None
    if killed_at is not None:
        return max(0.0, killed_at + KILL_BOUND - now)
    return max(0.0, (kill_at if child.terminated else term_at) - now)


def run(options: RunOptions) -> int:
    """Run ``options.command`` while leading ``options.name``."""
    return Runner(options).run()
