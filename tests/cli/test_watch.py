"""``leaselect watch``: one line per change, JSON or text, until Ctrl-C or --timeout."""

from __future__ import annotations

import json
import select
import signal
import time
from pathlib import Path

from leaselect import Elector

from .helpers import cli, start


def test_watch_prints_each_change_as_json_until_ctrl_c(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    proc = start("watch", "svc", "other", "--json", "--url", url)
    assert proc.stdout is not None
    lines: list[dict[str, object]] = []
    try:
        for _ in range(2):
            lines.append(json.loads(proc.stdout.readline()))
        assert [(v["name"], v["leader"]) for v in lines] == [("svc", None), ("other", None)]
        elector = Elector(url, "svc", ttl=5, identity="node-a", metadata="10.0.0.7:8080")
        lease = elector.acquire(5)
        assert lease is not None
        elected = json.loads(proc.stdout.readline())
        assert (elected["name"], elected["leader"], elected["token"]) == (
            "svc",
            "node-a",
            lease.token,
        )
        assert elected["metadata"] == "10.0.0.7:8080" and str(elected["time"]).endswith("+00:00")
        elector.close()
        assert json.loads(proc.stdout.readline())["leader"] is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 130
    finally:
        proc.kill()
        proc.wait()


def test_watch_text_lines_and_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    elector = Elector(url, "svc", ttl=5, identity="node-a")
    try:
        lease = elector.acquire(5)
        assert lease is not None
        done = cli("watch", "svc", "--timeout", "0.5", "--url", url)
    finally:
        elector.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f" svc: node-a (token {lease.token})")


def test_watch_refuses_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    bad_name = cli("watch", "a b", "--url", url)
    assert bad_name.returncode == 2 and "name" in bad_name.stderr
    assert "Traceback" not in bad_name.stderr
    bad_timeout = cli("watch", "svc", "--timeout", "-1", "--url", url)
    assert bad_timeout.returncode == 2 and "--timeout" in bad_timeout.stderr


def test_watch_of_an_unreachable_store_says_so_and_keeps_trying(tmp_path: Path) -> None:
    proc = start("watch", "svc", "--url", "redis://127.0.0.1:1/0")
    assert proc.stderr is not None
    try:
        said = ""
        end = time.monotonic() + 10
        while "cannot read 'svc'" not in said and time.monotonic() < end:
            if select.select([proc.stderr], [], [], 0.5)[0]:
                said += proc.stderr.readline()
        assert "cannot read 'svc' (retrying)" in said
        assert proc.poll() is None  # still trying
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert "Traceback" not in said + err
        assert proc.returncode == 130
    finally:
        proc.kill()
        proc.wait()
