"""A black-holing, slowing TCP proxy: cut one process off from its store without an RST.

While ``cut`` is on, nothing is forwarded in either direction and new connections are accepted
but not connected upstream; connections stay open, as behind an iptables DROP rule. Bytes read
during the cut are held and delivered when it ends (TCP would retransmit them). ``delay`` holds
every chunk that many seconds after it arrived (a slow link, in order, not a black hole).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

CHUNK = 65536


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()``/``heal()`` black-hole it."""

    def __init__(self, target: tuple[str, int], listen: str = "127.0.0.1") -> None:
        self.target = target
        self.delay = 0.0
        self.last_reply = 0.0  # monotonic time the store last sent bytes to the client
        self.replied = threading.Event()  # set on every store-to-client chunk
        self._open = threading.Event()
        self._open.set()
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

    def cut(self) -> None:
        """Stop forwarding (both directions, all connections)."""
        self._open.clear()

    def heal(self) -> None:
        """Resume forwarding."""
        self._open.set()

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed = True
        self._open.set()
        with self._lock:
            socks, self._socks = [self._listener, *self._socks], []
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

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
