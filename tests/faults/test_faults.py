"""CI-sized fault-injection run: every store whose backend exists, every applicable fault
``ROUNDS`` times (>= 180 faults in all), contenders on their own network namespaces.

A store whose adapter module exists must be reachable: the test fails (it does not skip).
Where namespaces are not allowed the cuts fall back to the black-holing proxy, with a notice;
under CI=true that fallback is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stores import STORES as STORE_INFO
from tests.support.stores import configured_url, implemented

from . import netns
from .checker import Report
from .scenario import run_store
from .summary import table

TTL = 2.0
ROUNDS = int(os.environ.get("LEASELECT_FAULT_ROUNDS", "5"))
STORES = ("sqlite", "redis", "etcd", "zookeeper")
_reports: dict[str, Report] = {}
SUMMARIES: list[Path] = []  # printed by conftest.pytest_terminal_summary


def store_url(store: str, tmp_path: Path) -> str:
    """The store URL: a temp file for sqlite, else LEASELECT_TEST_*_URL (env or test.env)."""
    if store == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    info = STORE_INFO[store]
    url = configured_url(info)
    assert url, f"{store}: backend exists but {info.env} is not set (run backends/launch.py up)"
    return url


@pytest.fixture(scope="module")
def net() -> Iterator[netns.Net | None]:
    """The bridge the contenders' namespaces hang on; None where namespaces are not allowed."""
    reason = netns.available()
    if reason is not None:
        assert os.environ.get("CI") != "true", f"CI must run real partitions: {reason}"
        print(f"fault run: cuts use the proxy, not namespaces ({reason})")
        yield None
        return
    made = netns.Net()
    try:
        yield made
    finally:
        made.close()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("store", [s for s in STORES if implemented(s)])
def test_faults(store: str, tmp_path: Path, net: netns.Net | None) -> None:
    report = run_store(store, store_url(store, tmp_path), TTL, ROUNDS, tmp_path, net=net)
    _reports[store] = report
    text = table(list(_reports.values()))
    summary = tmp_path / "summary.md"
    summary.write_text(text + "\n")
    SUMMARIES.append(summary)
    assert not report.failures(strict_tokens=True), text
