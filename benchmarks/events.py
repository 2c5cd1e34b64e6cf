"""Reading benchmark workers' JSON event lines (``{"e": event, "t": CLOCK_BOOTTIME, ...}``)."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
from typing import Any


def next_event(proc: subprocess.Popen[str], event: str) -> dict[str, Any]:
    """Read ``proc``'s output up to its next ``event`` line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        record: dict[str, Any] = json.loads(line)
        if record["e"] == event:
            return record
    raise RuntimeError(f"worker exited ({proc.wait()}) before {event!r}")


def handover_gaps(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[float]:
    """Seconds from each ``release`` to the next ``elected``, over all workers' merged events."""
    events: list[dict[str, Any]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        events += [json.loads(line) for line in out.splitlines()]
    events.sort(key=lambda e: e["t"])
    return [
        after["t"] - before["t"]
        for before, after in itertools.pairwise(events)
        if before["e"] == "release" and after["e"] == "elected"
    ]


def hold_time(spec: str) -> float:
    """Seconds a leader holds before it releases: ``"0.05"``, or ``"0.3:1.3"`` for a random time
    in between (the outside measurement's pauses)."""
    low, _, high = spec.partition(":")
    return random.uniform(float(low), float(high)) if high else float(low)


def hold_spec(pause: tuple[float, float]) -> str:
    """The ``hold_time`` argument for ``--pause LOW HIGH``."""
    low, high = pause
    return f"{low:g}" if low == high else f"{low:g}:{high:g}"


def add_pause_option(parser: argparse.ArgumentParser, default: float = 0.05) -> None:
    """``--pause LOW HIGH``: a leader holds a random time in between before it releases."""
    parser.add_argument(
        "--pause",
        nargs=2,
        type=float,
        default=(default, default),
        metavar=("LOW", "HIGH"),
        help=f"a leader holds a random time in [LOW, HIGH] s, then releases (default {default:g})",
    )
