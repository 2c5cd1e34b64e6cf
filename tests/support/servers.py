"""The shared test servers of ``backends/launch.py``, driven from tests."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def launch_cli(*args: str, timeout: float | None = 120) -> str:
    """``backends/launch.py ARGS`` in a child, its stripped output. A child, not
    ``control.start_member`` in this process: posix_spawn would hand a server our inherited fds,
    such as the bench ``flock``."""
    done = subprocess.run(
        [sys.executable, "backends/launch.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout.strip()
