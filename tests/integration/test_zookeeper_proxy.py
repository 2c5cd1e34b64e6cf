"""A black-holing TCP proxy for fault tests (plus a self-test): cut a client off without a RST.

``Proxy(target_port)`` listens on an ephemeral 127.0.0.1 port and forwards both ways. While
``blackhole`` is set every byte is read and dropped and nothing is forwarded: to the client and
to the server the peer looks silent but alive, the case timeouts (not resets) must catch.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class Proxy:
    """A forwarder to 127.0.0.1:``target_port`` that can turn into a black hole."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.blackhole = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        with selectors.DefaultSelector() as selector:
            for end in (a, b):
                selector.register(end, selectors.EVENT_READ)
            while not self._closed.is_set():
                for key, _ in selector.select(0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return self._close_pair(a, b)
                    if not self.blackhole.is_set():
                        with contextlib.suppress(OSError):
                            peer[sock].sendall(data)

    @staticmethod
    def _close_pair(a: socket.socket, b: socket.socket) -> None:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        """Stop forwarding and close every socket."""
        self._closed.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_proxy_forwards_then_drops() -> None:
    with socket.create_server(("127.0.0.1", 0)) as echo:
        proxy = Proxy(echo.getsockname()[1])
        try:
            client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
            server, _ = echo.accept()
            client.sendall(b"ping")
            assert server.recv(4) == b"ping"
            proxy.blackhole.set()
            client.sendall(b"lost")
            server.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                assert server.recv(4) == b"", "the black hole forwarded data"
            client.close()
            server.close()
        finally:
            proxy.close()
