"""URL resolution order and the refusal without a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaselect.cli.config import resolve_url
from leaselect.errors import ConfigError

from .helpers import cli


def test_option_beats_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEASELECT_URL", "sqlite:///env.db")
    (tmp_path / ".env").write_text("LEASELECT_URL=sqlite:///dotenv.db\n")
    assert resolve_url("sqlite:///opt.db") == ("sqlite:///opt.db", "--url")
    assert resolve_url(None) == ("sqlite:///env.db", "$LEASELECT_URL")
    monkeypatch.delenv("LEASELECT_URL")
    assert resolve_url(None) == ("sqlite:///dotenv.db", str(tmp_path / ".env"))


def test_no_url_anywhere_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEASELECT_URL", raising=False)
    with pytest.raises(ConfigError, match="no store URL"):
        resolve_url(None)


@pytest.mark.parametrize("command", [["status", "x"], ["run", "x", "--", "true"]])
def test_cli_refuses_without_url(tmp_path: Path, command: list[str]) -> None:
    result = cli(*command, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "leaselect: error: no store URL: pass --url, set $LEASELECT_URL, "
        "or put LEASELECT_URL=... in a .env file"
    ), lines


def test_cli_reads_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"LEASELECT_URL=sqlite:///{tmp_path}/s.db\n")
    assert cli("status", "nobody", cwd=tmp_path).returncode == 3


@pytest.mark.parametrize("command", [["status", "x"], ["run", "x", "--", "true"]])
def test_errors_are_one_line_without_password(tmp_path: Path, command: list[str]) -> None:
    result = cli(*command, "--url", "redis://user:hunter2@127.0.0.1:1/0", cwd=tmp_path)
    assert result.returncode == 2
    assert "hunter2" not in result.stderr + result.stdout
    assert result.stderr.startswith("leaselect: error: ")
    assert "Traceback" not in result.stderr


def test_bad_grace_is_rejected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    result = cli("run", "g", "--url", url, "--ttl", "1", "--grace", "0.9", "--", "true")
    assert result.returncode == 2
    assert "--grace" in result.stderr and "stop_grace" not in result.stderr
