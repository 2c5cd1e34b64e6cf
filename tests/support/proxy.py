"""A TCP proxy in front of a store: a store that is down, silent or slow without touching the
shared servers.

Each new connection gets the proxy's ``mode``: "forward" (to ``target``), "refuse" (accepted and
closed at once, as a store that is down) or "blackhole" (accepted, never connected upstream,
never answered). Forwarded connections can then be, all at once:

- held (``hold``): nothing forwarded in either direction, connections stay open, as behind an
  iptables DROP rule; bytes read meanwhile are delivered on ``heal`` (TCP would retransmit them)
  and new connections are connected upstream only then;
- dropped (``drop``): every byte read is discarded (or only the store's replies: a request
  applied whose answer is lost), both peers look silent but alive; ``heal`` forwards again;
- delayed (``delay``): every chunk delivered that many seconds after it arrived, in order;
- reset (``reset``): every connection closed, as a store that restarted.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit

CHUNK = 65536

Mode = Literal["forward", "refuse", "blackhole"]


class Proxy:
    """Listens on ``listen``:``port`` (an ephemeral port) and serves each new connection by
    ``mode``; ``target`` may change (new connections go there)."""

    def __init__(
        self, target: tuple[str, int], mode: Mode = "forward", listen: str = "127.0.0.1"
    ) -> None:
        self.target = target
        self.mode: Mode = mode
        self.delay = 0.0
        self.last_reply = 0.0  # monotonic time the store last sent bytes to the client
        self.replied = threading.Event()  # set on every store-to-client chunk
        self._open = threading.Event()  # cleared while held
        self._open.set()
        self._drop_requests = False
        self._drop_replies = False
        self._closed = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server((listen, 0))
        self.host = listen
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"{self.host}:{self.port}"

    def hold(self) -> None:
        """Stop forwarding (both directions, all connections); keep what arrives for ``heal``."""
        self._open.clear()

    def drop(self, replies_only: bool = False) -> None:
        """Discard every byte read (only the store's replies if ``replies_only``)."""
        self._drop_requests, self._drop_replies = not replies_only, True

    def heal(self) -> None:
        """Forward again: held bytes delivered, nothing dropped any more."""
        self._drop_requests = self._drop_replies = False
        self._open.set()

    def reset(self, mode: Mode) -> None:
        """Close every connection made so far (as a store that restarted); new ones get
        ``mode``."""
        self.mode = mode
        with self._lock:
            socks, self._socks = self._socks, []
        _close(socks)

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed = True
        self._open.set()
        with self._lock:
            socks, self._socks = [self._listener, *self._socks], []
        _close(socks)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            if self.mode == "refuse":
                client.close()
            elif self.mode == "forward":
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._open.wait()
        try:
            upstream = socket.create_connection(self.target, timeout=5.0)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._track(upstream)
        threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()
        self._pump(client, upstream, False)

    def _pump(self, src: socket.socket, dst: socket.socket, reply: bool) -> None:
        out: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._send, args=(out, dst, reply), daemon=True).start()
        while True:
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = b""
            if data and (self._drop_replies if reply else self._drop_requests):
                continue
            out.put((time.monotonic(), data))
            if not data or self._closed:
                break

    def _send(
        self, out: queue.SimpleQueue[tuple[float, bytes]], dst: socket.socket, reply: bool
    ) -> None:
        while True:
            arrived, data = out.get()
            wait = arrived + self.delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._open.wait()
            if not data or self._closed:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
            if reply:
                self.last_reply = time.monotonic()
                self.replied.set()
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


def first_host(url: str) -> tuple[str, int]:
    """The first host:port of a store URL."""
    host, port = urlsplit(url).netloc.rsplit("@", 1)[-1].split(",")[0].rsplit(":", 1)
    return host, int(port)


def proxied_url(url: str, proxies: Sequence[Proxy]) -> str:
    """``url`` with its host list replaced by the proxies' addresses."""
    parts = urlsplit(url)
    userinfo, at, _hosts = parts.netloc.rpartition("@")
    rest = url.split("://", 1)[1][len(parts.netloc) :]
    hosts = ",".join(proxy.address for proxy in proxies)
    return f"{parts.scheme}://{userinfo}{at}{hosts}{rest}"
