"""CI-sized fault-injection run: every store whose backend exists, every applicable fault twice.

A store whose adapter module exists must be reachable: the test fails (it does not skip).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.stores import STORES as STORE_INFO
from tests.stores import configured_url

from .checker import Report
from .scenario import run_store
from .summary import table

TTL = 2.0
ROUNDS = 2
STORES = ("sqlite", "redis", "etcd", "zookeeper")
ENV = {"redis": "LEASELECT_TEST_REDIS_URL", "etcd": "LEASELECT_TEST_ETCD_URL",
       "zookeeper": "LEASELECT_TEST_ZK_URL"}
_reports: dict[str, Report] = {}
SUMMARIES: list[Path] = []  # printed by conftest.pytest_terminal_summary


def present(store: str) -> bool:
    return importlib.util.find_spec(f"leaselect.backends.{store}") is not None


def store_url(store: str, tmp_path: Path) -> str:
    """The store URL: a temp file for sqlite, else LEASELECT_TEST_*_URL (env or test.env)."""
    if store == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url = configured_url(STORE_INFO[store])
    assert url, f"{store}: backend exists but {ENV[store]} is not set (run backends/launch.py up)"
    return url


@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", [s for s in STORES if present(s)])
def test_faults(store: str, tmp_path: Path) -> None:
    report = run_store(store, store_url(store, tmp_path), TTL, ROUNDS, tmp_path)
    _reports[store] = report
    text = table(list(_reports.values()))
    summary = tmp_path / "summary.md"
    summary.write_text(text + "\n")
    SUMMARIES.append(summary)
    assert not report.failures(strict_tokens=store != "redis"), text
