"""The servers the tests run are the versions selected: etcd 3.4 and ZooKeeper 3.8 from Debian
12, or etcd 3.5 and ZooKeeper 3.9 from Debian 13 with LEASELECT_ETCD_VERSION=3.5 and
LEASELECT_ZOOKEEPER_VERSION=3.9 (tests/run.sh runs the etcd and ZooKeeper tests on both)."""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.request

import pytest

from backends.testbed import topology
from backends.testbed.errors import BackendError
from tests.support.stores import require_url


def first_endpoint(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split(",")[0].split("/")[0].rsplit(":", 1)
    return host, int(port)


def test_etcd_runs_the_selected_version() -> None:
    host, port = first_endpoint(require_url("etcd"))
    with urllib.request.urlopen(f"http://{host}:{port}/version", timeout=5) as answer:
        version = json.load(answer)["etcdserver"]
    expected = "3.5." if os.environ.get("LEASELECT_ETCD_VERSION") == "3.5" else "3.4."
    assert version.startswith(expected), version


def test_zookeeper_runs_the_selected_version() -> None:
    with socket.create_connection(first_endpoint(require_url("zookeeper")), timeout=5) as conn:
        conn.sendall(b"srvr")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    version = reply.decode().splitlines()[0]
    expected = "3.9." if os.environ.get("LEASELECT_ZOOKEEPER_VERSION") == "3.9" else "3.8."
    assert f"version: {expected}" in version, version


def test_an_unknown_version_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEASELECT_ETCD_VERSION", "3.6")
    with pytest.raises(BackendError, match=re.escape("LEASELECT_ETCD_VERSION='3.6': use 3.5")):
        topology.server_version("etcd")
    monkeypatch.setenv("LEASELECT_ETCD_VERSION", "system")
    assert topology.server_version("etcd") is None
