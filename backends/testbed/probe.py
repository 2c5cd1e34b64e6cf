"""Talking to a server on 127.0.0.1: is its port open, one request and its reply, HTTP JSON."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.error
import urllib.request
from typing import Any

from .member import HOST

PROBE_TIMEOUT = 1.0  # seconds for one health probe (socket or HTTP)


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), PROBE_TIMEOUT):
        return True
    return False


def exchange(port: int, request: bytes) -> bytes:
    """Send ``request``, read the reply until the server closes or stops talking; b'' on error."""
    chunks: list[bytes] = []
    try:
        with socket.create_connection((HOST, port), PROBE_TIMEOUT) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            sock.sendall(request)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if request.startswith(b"PING") and b"\r\n" in chunk:
                    break
    except OSError:
        pass
    return b"".join(chunks)


def http_json(port: int, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` as JSON to) an HTTP endpoint; its JSON object, {} on any failure."""
    data = None if body is None else json.dumps(body).encode()
    url = f"http://{HOST}:{port}{path}"
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            reply = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return {}
    return reply if isinstance(reply, dict) else {}
