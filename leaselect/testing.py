"""Test helpers shipped with the package: a clock that only moves when told to, and a proxy
that partitions a client from its store (both used by ``leaselect.pytest_plugin``)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from .errors import ConfigError
from .urls import parse


class FakeClock:
    """A manually advanced clock; ``wait`` blocks until the event is set or time is advanced."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._changed = threading.Condition()
        self._waiters = 0

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every waiter whose timeout has passed."""
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        with self._changed:
            until = None if timeout is None else self._now + timeout
            self._waiters += 1
            try:
                while not event.is_set() and (until is None or self._now < until):
                    self._changed.wait(0.005)
                return event.is_set()
            finally:
                self._waiters -= 1

    @property
    def waiters(self) -> int:
        """How many threads are blocked in ``wait`` right now."""
        with self._changed:
            return self._waiters


DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "etcd": 2379, "etcds": 2379, "zk": 2181}


class PartitionProxy:
    """A TCP proxy on 127.0.0.1 to the first host of a store URL, for tests that cut a client
    off its store. ``partitioned()`` stops moving bytes both ways on every connection and
    holds new ones unanswered (nothing is closed: a partition, not a crash); when it ends, what
    was sent meanwhile is delivered, as after a healed partition."""

    def __init__(self, url: str) -> None:
        parsed = parse(url)
        if not parsed.hosts:
            raise ConfigError(f"PartitionProxy needs a store URL with a host, got {parsed!r}")
        host, port = parsed.host_list(DEFAULT_PORTS.get(parsed.scheme, 0))[0]
        self.target: tuple[str, int] = (host, port)
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, name="leaselect-test-proxy")]
        self._threads[0].start()

    @contextlib.contextmanager
    def partitioned(self) -> Iterator[None]:
        self._flowing.clear()
        try:
            yield
        finally:
            self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self._threads.append(pump)
                pump.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                self._flowing.wait()
                if self._closed.is_set():
                    break
                src.settimeout(0.1)
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                self._flowing.wait()  # read just before a cut: held until it heals
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def proxied_url(url: str, port: int) -> str:
    """``url`` with its host list replaced by ``127.0.0.1:port`` (credentials, path and options
    kept)."""
    scheme, rest = url.split("://", 1)
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    netloc, after = rest[:end], rest[end:]
    userinfo, at, _hosts = netloc.rpartition("@")
    return f"{scheme}://{userinfo}{at}127.0.0.1:{port}{after}"
