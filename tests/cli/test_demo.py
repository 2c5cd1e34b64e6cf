"""``leaselect demo`` finishes in time and reports both measurements."""

from __future__ import annotations

import re
import time

from .helpers import cli


def test_demo_reports_failover_and_handover() -> None:
    began = time.monotonic()
    result = cli("demo", timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 30
    summary = result.stdout.strip().splitlines()[-1]
    found = re.search(r"failover after kill -9 ([\d.]+)s .* handover ([\d.]+)ms", summary)
    assert found, result.stdout
    assert 0 < float(found.group(1)) < 2 * 2.0 + 1
    assert float(found.group(2)) < 1000
