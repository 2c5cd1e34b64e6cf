"""Run the real ``leaselect`` CLI in subprocesses, with bounded waits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "leaselect.cli.main"]


def env_without_url(**extra: str) -> dict[str, str]:
    """The test's environment minus any LEASELECT_URL, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "LEASELECT_URL"}
    env.update(extra)
    return env


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 20, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``leaselect ARGS`` to completion."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env_without_url(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str, cwd: Path | None = None, **env: str) -> subprocess.Popen[str]:
    """Start ``leaselect ARGS`` in the background."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=env_without_url(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
