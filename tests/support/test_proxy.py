"""The test proxy's own tests: forward, drop, hold (against a local echo peer, no store)."""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.support.proxy import Proxy


def test_proxy_forwards_then_drops() -> None:
    with socket.create_server(("127.0.0.1", 0)) as echo:
        proxy = Proxy(("127.0.0.1", echo.getsockname()[1]))
        try:
            client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
            server, _ = echo.accept()
            client.sendall(b"ping")
            assert server.recv(4) == b"ping"
            proxy.drop()
            client.sendall(b"lost")
            server.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                assert server.recv(4) == b"", "the black hole forwarded data"
            client.close()
            server.close()
        finally:
            proxy.close()


def test_proxy_black_holes_without_reset() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    proxy = Proxy(server.getsockname())
    client = socket.create_connection(("127.0.0.1", proxy.port))
    upstream, _ = server.accept()
    proxy.hold()
    client.sendall(b"ping")
    upstream.settimeout(0.3)
    with pytest.raises(TimeoutError):  # nothing forwarded, no EOF, no RST
        upstream.recv(4)
    proxy.heal()
    upstream.settimeout(2.0)
    assert upstream.recv(4) == b"ping"
    for sock in (client, upstream, server):
        sock.close()
    proxy.close()
