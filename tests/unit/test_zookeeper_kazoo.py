"""The kazoo internals ``kazoo_hooks`` relies on: present in the installed kazoo, and a safe
fallback (one WARNING, nothing installed) when they are not."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from kazoo.client import KazooClient

from leaselect.backends.zookeeper import kazoo_hooks


def test_the_installed_kazoo_has_every_internal_the_hooks_touch() -> None:
    client = KazooClient(hosts="127.0.0.1:1")  # not started: no connection is made
    assert kazoo_hooks.missing(client) == []
    connection = client._connection
    assert isinstance(connection.ping_outstanding, threading.Event)


class FakeConnection:
    """The three methods kazoo's connection thread calls, scripted."""

    def __init__(self) -> None:
        self.ping_outstanding = threading.Event()

    def _connect(self, host: str, hostip: str, port: int) -> tuple[float, float]:
        return 4000.0, 1000.0  # read timeout = 2/3 of a 6 s negotiated timeout, in ms

    def _send_ping(self, connect_timeout: float) -> None:
        self.ping_outstanding.set()

    def _read_socket(self, read_timeout: float) -> Any:
        self.ping_outstanding.clear()  # the ping's answer
        return None


class FakeClient:
    def __init__(self, connection: Any) -> None:
        self._connection = connection


def test_the_hooks_report_the_negotiated_timeout_and_answered_pings() -> None:
    client = FakeClient(FakeConnection())
    handshakes: list[float] = []
    pings: list[tuple[float, float]] = []
    assert kazoo_hooks.install(
        client,
        lambda _start, granted: handshakes.append(granted),
        lambda sent, answered: pings.append((sent, answered)),
    )
    connection = client._connection
    assert connection._connect("h", "127.0.0.1", 1) == (4000.0, 1000.0)
    assert handshakes == [6.0]
    connection._read_socket(1.0)  # an answer to a request: no ping outstanding
    assert pings == []
    connection._send_ping(1.0)
    connection._read_socket(1.0)
    assert len(pings) == 1 and pings[0][0] <= pings[0][1]


def test_a_kazoo_without_them_gets_nothing_installed_and_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kazoo_hooks, "_warned", False)
    bare = FakeClient(object())
    with caplog.at_level(logging.WARNING, logger="leaselect"):
        assert not kazoo_hooks.install(bare, lambda *_: None, lambda *_: None)
        assert not kazoo_hooks.install(bare, lambda *_: None, lambda *_: None)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "_connection._connect" in warnings[0].getMessage()
    assert kazoo_hooks.missing(FakeClient(None)) == ["_connection"]
