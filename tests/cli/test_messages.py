"""Error messages name the CLI option the user typed, a URL that failed to parse is shown by
its scheme at most, and Ctrl-C exits 130 from ``run --once`` too."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.waiting import eventually

from .helpers import cli, start


@pytest.mark.parametrize(
    ("option", "value"),
    [("--ttl", "0.05"), ("--identity", "a\tb"), ("--metadata", "a\tb")],
)
def test_errors_name_the_cli_option(tmp_path: Path, option: str, value: str) -> None:
    result = cli("run", "x", "--url", f"sqlite:///{tmp_path}/m.db", option, value, "--", "true")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("leaselect: error: ") and option in line, line


@pytest.mark.parametrize(
    "url",
    [
        "zk:/alice:s3cr3tpw@db7.internal:2181",
        "redis:alice:s3cr3tpw@db7.internal",
        "db7.internal:6379",
        "http://alice:s3cr3tpw@db7.internal/x",
    ],
)
def test_an_unparseable_url_is_shown_by_its_scheme_at_most(url: str) -> None:
    result = cli("status", "x", "--url", url)
    assert result.returncode == 2, result.stderr
    for part in ("alice", "s3cr3tpw", "db7", "internal"):
        assert part not in result.stderr, result.stderr


def test_ctrl_c_of_run_once_exits_130(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path}/r.db", tmp_path / "started"
    proc = start("run", "x", "--url", url, "--once", "--", "sh", "-c", f"touch {out}; sleep 30")
    assert eventually(out.exists)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
