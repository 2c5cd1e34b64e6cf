"""The embedded store across time namespaces: a shifted CLOCK_BOOTTIME must never lead."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.sqlite_worker import Worker, require

UNSHARE = ["unshare", "--time", "--boottime", "100000"]


def _can_unshare_time() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, check=False)
    return probe.returncode == 0


def test_a_process_in_another_time_namespace_is_refused(tmp_path: Path, name: str) -> None:
    require(_can_unshare_time(), "unshare --time needs root and a kernel with time namespaces")
    url = f"sqlite:///{tmp_path}/leases.db"
    leader = Worker(url, name, 10)
    elected = leader.wait_for("elected", 10)
    shifted = Worker(url, name, 10, prefix=UNSHARE)
    try:
        assert elected is not None, leader.events
        error = shifted.wait_for("error", 10)
        assert shifted.wait_for("elected", 0.1) is None, shifted.events
        assert error is not None, shifted.events
        assert error["kind"] == "ConfigError" and "time namespace" in str(error["message"])
        assert leader.wait_for("lost", 0.5) is None, leader.events
    finally:
        shifted.stop()
        leader.stop()
