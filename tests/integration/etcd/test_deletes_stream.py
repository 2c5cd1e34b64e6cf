"""The etcd waiters' feed against a gateway that misbehaves (a local HTTP server, no etcd):
a refused stream answers its waiters, and a stream that ends at once is not reopened in a
tight loop."""

from __future__ import annotations

import http.server
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from leaselect.backends.etcd.deletes import RETRY, DeleteFeed, DeleteInterest
from leaselect.backends.etcd.transport import Transport
from leaselect.urls import parse


class Gateway(http.server.BaseHTTPRequestHandler):
    status = 200
    opens = 0

    def do_POST(self) -> None:
        type(self).opens += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"result":{"created":true}}\n' if self.status == 200 else b"not found"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)  # then the stream ends: a gateway that drops it at once

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[type[Gateway], int]]:
    handler = type("Handler", (Gateway,), {"opens": 0, "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_stream_that_ends_at_once_is_reopened_at_most_once_per_retry(
    gateway: tuple[type[Gateway], int],
) -> None:
    handler, port = gateway
    feed = DeleteFeed(Transport(parse(f"etcd://127.0.0.1:{port}")), "/leaselect")
    answers: queue.Queue[int | None] = queue.Queue()
    feed.watch(DeleteInterest("/leaselect/job/a", "", 5, answers.put))
    try:
        time.sleep(1.0)
        assert 1 <= handler.opens <= 1.0 / RETRY + 2, handler.opens
        assert answers.empty()  # the interest stays while the stream is reopened
    finally:
        feed.close()
    assert answers.get(timeout=5) is None


def test_a_refused_stream_sends_its_waiters_to_campaign(
    gateway: tuple[type[Gateway], int],
) -> None:
    handler, port = gateway
    handler.status = 404
    feed = DeleteFeed(Transport(parse(f"etcd://127.0.0.1:{port}")), "/leaselect")
    answers: queue.Queue[int | None] = queue.Queue()
    try:
        feed.watch(DeleteInterest("/leaselect/job/a", "", 5, answers.put))
        assert answers.get(timeout=5) is None
        time.sleep(0.5)
        assert handler.opens == 1  # nobody waits: no stream
    finally:
        feed.close()
