"""The command line as a Unix user expects it: verbosity anywhere, --version, one-line errors
naming the user's option, quiet client libraries, Ctrl-C, status with stable JSON keys and
several names. Real processes."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaselect import Elector
from leaselect.cli.main import _parser, verbosity
from leaselect.cli.status import describe, render
from leaselect.lease import Leader
from tests.support.private import free_port
from tests.support.waiting import eventually

from .helpers import cli, start

KEYS = ["name", "leader", "token", "metadata", "expires_in"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbosity_before_or_after_the_subcommand(tmp_path: Path, where: str) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    words = ["run", "job", "--url", url, "--once", "--", "true"]
    args = ["-v", *words] if where == "before" else [words[0], "-v", *words[1:]]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert " INFO leaselect" in result.stderr


@pytest.mark.parametrize(
    ("words", "count"),
    [
        (["-v", "status", "-v", "x"], 2),
        (["-vv", "status", "x"], 2),
        (["status", "x", "-vv"], 2),
        (["-v", "run", "x", "--", "true"], 1),
        (["status", "x"], 0),
    ],
)
def test_verbosity_adds_up_across_both_places(words: list[str], count: int) -> None:
    assert verbosity(_parser().parse_args(words)) == count


def test_verbosity_counts_across_both_places(tmp_path: Path) -> None:
    result = cli("-v", "status", "-v", "x", "--url", f"sqlite:///{tmp_path}/r.db")
    assert result.returncode == 3
    quiet = cli("status", "x", "--url", f"sqlite:///{tmp_path}/r.db")
    assert quiet.stderr == ""


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("leaselect ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "x", "--ttl", "nan", "--", "true"], "--ttl"),
        (["run", "x", "--ttl", "inf", "--", "true"], "--ttl"),
        (["run", "x", "--ttl", "-1", "--", "true"], "--ttl"),
        (["run", "x", "--grace", "nan", "--", "true"], "--grace"),
        (["run", "x", "--ttl", "1", "--grace", "0.9", "--", "true"], "--grace"),
        (["status", "x", "--url", ""], "--url is empty"),
        (["run", "x"], "run needs a command"),
        (["status"], "NAME"),
        (["bogus"], "invalid choice"),
    ],
)
def test_errors_are_one_line_naming_the_option(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    if "--url" not in args:
        args = (
            [*args[:2], "--url", f"sqlite:///{tmp_path}/r.db", *args[2:]] if len(args) > 1 else args
        )
    result = cli(*args, LEASELECT_URL=f"sqlite:///{tmp_path}/env.db")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaselect: error: "), result.stderr
    assert needle in lines[0]
    assert "nans" not in lines[0] and "stop_grace" not in lines[0]


def test_a_command_that_cannot_start_is_a_leaselect_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    result = cli("run", "x", "--url", url, "--once", "--", str(tmp_path / "nosuchcmd"))
    assert result.returncode == 127
    assert result.stderr.startswith("leaselect: error: cannot start"), result.stderr


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_unreachable_zookeeper_is_one_line_without_client_noise(verbose: list[str]) -> None:
    url = f"zk://127.0.0.1:{free_port()}?connect_timeout=1"
    result = cli(*verbose, "status", "x", "--url", url)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "kazoo" in line or "WARNING" in line]
    assert errors == [], result.stderr
    assert result.stderr.splitlines()[-1].startswith("leaselect: error: ")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server that accepts and never answers (a hung store)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_ctrl_c_exits_130_without_traceback(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = silent_server
    proc = start("status", "x", "--url", f"zk://127.0.0.1:{port}")
    assert eventually(lambda: bool(accepted), timeout=30)  # started up and now waits on the store
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_ctrl_c_of_run_exits_130(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path}/r.db", tmp_path / "started"
    proc = start("run", "x", "--url", url, "--", "sh", "-c", f"touch {out}; sleep 30")
    assert eventually(out.exists)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_status_json_has_the_same_keys_and_several_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    elector = Elector(url, "led", ttl=5, identity="node-a")
    try:
        assert elector.acquire(5) is not None
        result = cli("status", "led", "free", "--json", "--url", url)
        assert result.returncode == 3  # one of them has no leader
        led, free = (json.loads(line) for line in result.stdout.splitlines())
        assert list(led) == KEYS and list(free) == KEYS
        assert led["metadata"] is None and led["leader"] == "node-a"
        assert free == dict.fromkeys(KEYS) | {"name": "free"}
        text = cli("status", "led", "led", "--url", url)
        assert text.returncode == 0 and text.stdout.count("led by node-a") == 2
    finally:
        elector.close()


def test_status_escapes_control_characters_someone_else_wrote(tmp_path: Path) -> None:
    """Another writer (an older version, a hand edit) put escape sequences into the store."""
    db = tmp_path / "s.db"
    elector = Elector(f"sqlite:///{db}", "svc", ttl=10, identity="node-a", metadata="m")
    try:
        assert elector.acquire(5) is not None
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE lease SET identity=?, metadata=? WHERE name='svc'",
                ("evil\x1b[2J\x1b]0;pwned\x07", "line1\nline2\x1b[31m"),
            )
        text = cli("status", "svc", "--url", f"sqlite:///{db}")
        js = cli("status", "svc", "--json", "--url", f"sqlite:///{db}")
    finally:
        elector.close()
    for output in (text.stdout, js.stdout):
        assert "\x1b" not in output and "\x07" not in output
    assert "\\x1b[2J" in text.stdout and "line1\\nline2" in text.stdout
    assert json.loads(js.stdout)["metadata"] == "line1\nline2\x1b[31m"


def test_render_escapes_every_control_character() -> None:
    view = describe("svc", Leader("a\x1bb\rc\x00d\u202ee", 1, "\x9b31m", 1.0))
    shown = render(view)
    assert all(c.isprintable() or c == "\n" for c in shown)
    assert shown.count("\n") == 3


def test_loss_and_stopping_are_warnings_at_default_verbosity(tmp_path: Path) -> None:
    db, started = tmp_path / "r.db", tmp_path / "started"
    script = f"trap '' TERM; touch {started}; while :; do sleep 0.1; done"
    proc = start(
        "run",
        "x",
        "--url",
        f"sqlite:///{db}",
        "--ttl",
        "2",
        "--grace",
        "0.4",
        "--",
        "sh",
        "-c",
        script,
    )
    assert eventually(started.exists)
    lock = sqlite3.connect(db, isolation_level=None)  # after leaselect created the file
    try:
        lock.execute("BEGIN EXCLUSIVE")
        time.sleep(2.5)
    finally:
        lock.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    err = proc.stderr.read() if proc.stderr else ""
    warnings = [line for line in err.splitlines() if " WARNING " in line]
    for needle in ("jeopardy", "sending SIGTERM", "sending SIGKILL", "lost 'x'"):
        assert any(needle in line for line in warnings), err
    assert " INFO " not in err


def test_run_with_python_executable_path_in_help() -> None:
    result = cli("run", "--help")
    assert result.returncode == 0 and "--keep-credentials" in result.stdout
    assert sys.executable  # the CLI ran under this interpreter


def test_ctrl_c_of_demo_exits_130() -> None:
    proc = start("demo", PYTHONUNBUFFERED="1")
    assert proc.stdout is not None
    assert "leaselect demo:" in proc.stdout.readline()  # started up: the demo runs from here
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
