"""A TCP proxy on a local port that refuses, black-holes or forwards: a store that is down
without stopping the shared servers."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

from tests.support.private import free_port


class Proxy:
    """Listens on 127.0.0.1:``port``; ``mode`` is "refuse" (accept, close at once),
    "blackhole" (accept, never answer) or "forward" (to ``target``)."""

    def __init__(self, target: tuple[str, int], mode: str = "refuse") -> None:
        self.target = target
        self.mode = mode
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="test-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def reset(self, mode: str) -> None:
        """Close every connection made so far (as a store that restarted); new ones get
        ``mode``."""
        self.mode = mode
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._sockets.append(client)
            if self.mode == "refuse":
                client.close()
            elif self.mode == "forward":
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._sockets.append(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def through(url: str, proxy_port: int) -> str:
    """``url`` with its (first) host replaced by the proxy's port."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    hosts = f"127.0.0.1:{proxy_port}"
    netloc[-1] = hosts
    rest = url.split("://", 1)[1][len(parts.netloc):]
    return f"{parts.scheme}://{'@'.join(netloc)}{rest}"


def first_host(url: str) -> tuple[str, int]:
    """The first host:port of a store URL."""
    host, port = urlsplit(url).netloc.rsplit("@", 1)[-1].split(",")[0].rsplit(":", 1)
    return host, int(port)
