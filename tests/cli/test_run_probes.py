"""``leaselect run --health-port``: the probes and metrics of a running runner."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.private import free_port
from tests.support.waiting import eventually

from .helpers import cli, start


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_a_runner_serves_its_probes_and_metrics_until_it_stops(tmp_path: Path) -> None:
    url, port = f"sqlite:///{tmp_path}/r.db", free_port()
    args = ["run", "svc", "--url", url, "--ttl", "3", "--health-port", str(port)]
    runner = start(*args, "--", "sleep", "60")
    try:
        assert eventually(lambda: fetch(port, "/leader")[0] == 200)
        status, body = fetch(port, "/readyz")
        assert status == 200 and json.loads(body)["electors"][0]["election"] == "svc"
        assert fetch(port, "/healthz")[0] == 200
        assert eventually(
            lambda: "leaselect_renew_round_trip_seconds_count" in fetch(port, "/metrics")[1]
        )
        assert str(tmp_path) not in body  # no URL in a probe's answer
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(10) == 0
    assert fetch(port, "/healthz")[0] == 0  # closed with the runner


def test_a_bad_health_port_is_a_usage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    result = cli("run", "svc", "--url", url, "--health-port", "99999", "--", "true")
    assert result.returncode == 2 and "--health-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_logs_are_one_object_per_line_with_the_elections_fields(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    args = ["run", "svc", "--url", url, "--once", "--log-format", "json", "--identity", "me"]
    result = cli(*args, "-v", "--", "true")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and all(line["election"] == "svc" for line in lines)
    elected = next(line for line in lines if line["message"].startswith("elected"))
    assert elected["identity"] == "me" and elected["store"] == "sqlite" and elected["token"] > 0
    lost = next(line for line in lines if line["message"].startswith("lost"))
    assert lost["reason"] == "released" and lost["token"] == elected["token"]


def test_json_logs_carry_the_runners_fields_and_errors_are_json_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    args = ["run", "svc", "--url", url, "--once", "--log-format", "json", "--identity", "me"]
    result = cli(*args, "-v", "--", "true")
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    for line in lines:
        if line["logger"] == "leaselect.cli" and line["message"].startswith(("lost", "leading")):
            assert line["identity"] == "me" and line["store"] == "sqlite" and line["token"] > 0
    unreachable = cli(
        "run", "svc", "--url", "redis://:pw-x1@127.0.0.1:1/0", "--log-format", "json", "--", "true"
    )
    assert unreachable.returncode == 2
    error = json.loads(unreachable.stderr.strip().splitlines()[-1])
    assert error["level"] == "error" and "pw-x1" not in unreachable.stderr


def test_a_health_port_in_use_names_the_option(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path}/r.db"
        result = cli("run", "svc", "--url", url, "--health-port", str(port), "--", "true")
    assert result.returncode == 2 and "--health-port" in result.stderr
