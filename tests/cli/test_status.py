"""``leaselect status``: exit codes, text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from leaselect import Elector

from .helpers import cli


def test_status_without_leader_exits_3(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    text = cli("status", "svc", "--url", url)
    assert (text.returncode, text.stdout.strip()) == (3, "svc: no leader")
    js = cli("status", "svc", "--json", "--url", url)
    assert js.returncode == 3
    assert json.loads(js.stdout) == {
        "name": "svc",
        "leader": None,
        "token": None,
        "metadata": None,
        "expires_in": None,
    }


def test_status_shows_the_leader(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    elector = Elector(url, "svc", ttl=5, identity="node-a", metadata="10.0.0.7:8080")
    try:
        lease = elector.acquire(5)
        assert lease is not None
        js = cli("status", "svc", "--json", "--url", url)
        assert js.returncode == 0
        view = json.loads(js.stdout)
        assert view["leader"] == "node-a"
        assert view["token"] == lease.token
        assert view["metadata"] == "10.0.0.7:8080"
        assert 0 < view["expires_in"] <= 5
        text = cli("status", "svc", "--url", url)
        assert text.returncode == 0
        assert "led by node-a" in text.stdout and f"token:    {lease.token}" in text.stdout
    finally:
        elector.close()
