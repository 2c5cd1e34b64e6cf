"""The fencing rule, table-driven; ``SqliteFence`` applies it in the write's transaction; the
package imports without any store's client library."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import leaselect
from leaselect.fencing import SqliteFence, StaleToken, admits


@pytest.mark.parametrize(
    ("newest", "token", "holder", "admitted"),
    [
        (None, 0, "a", True),  # nothing seen yet
        ((5, "a"), 6, "b", True),  # a newer tenure
        ((5, "a"), 5, "a", True),  # the same tenure again
        ((5, "a"), 5, "b", False),  # the newest token from someone else
        ((5, "a"), 4, "a", False),  # an older tenure, whoever sends it
        ((5, "a"), 4, "b", False),
    ],
)
def test_the_rule(newest: tuple[int, str] | None, token: int, holder: str, admitted: bool) -> None:
    assert admits(newest, token, holder) is admitted


def test_stale_token_is_a_leaselect_error() -> None:
    error = StaleToken("ledger", 3, 7)
    assert isinstance(error, leaselect.LeaselectError)
    assert (error.resource, error.token, error.newest) == ("ledger", 3, 7)
    assert "newest seen is 7" in str(error)
    assert "no longer leads" in str(StaleToken("jobs", 3, None))


def test_sqlite_fence_refuses_a_superseded_write_and_rolls_back(tmp_path: Path) -> None:
    fence = SqliteFence(str(tmp_path / "resource.db"))
    fence.write("r", 1, "a", lambda db: db.execute("CREATE TABLE log (entry TEXT)"))
    fence.write("r", 2, "b", lambda db: db.execute("INSERT INTO log VALUES ('b')"))
    with pytest.raises(StaleToken) as stale:
        fence.write("r", 1, "a", lambda db: db.execute("INSERT INTO log VALUES ('late')"))
    assert stale.value.newest == 2

    def fails(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO log VALUES ('c')")
        raise RuntimeError("the write itself failed")

    with pytest.raises(RuntimeError):
        fence.write("r", 3, "c", fails)
    assert fence.newest("r") == 2  # the fence moves only with a write that commits
    rows = fence.write("r", 2, "b", lambda db: db.execute("SELECT entry FROM log").fetchall())
    assert rows == [("b",)]
    fence.close()


def test_the_package_needs_no_store_client() -> None:
    code = (
        "import sys, leaselect.fencing as f; f.SqliteFence; "
        "print(sorted(m for m in ('redis', 'kazoo', 'etcd3gw') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_store_fences_load_on_first_use() -> None:
    import leaselect.fencing as fencing

    assert fencing.RedisFence.__module__ == "leaselect.fencing.redis"
    assert "redis.call(unpack(ARGV, 3))" in fencing.FENCED_COMMAND
    with pytest.raises(AttributeError):
        fencing.NoSuchFence  # noqa: B018
