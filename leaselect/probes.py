"""HTTP probes for orchestrators: ``/healthz``, ``/readyz``, ``/leader`` and ``/metrics``.

``serve(electors, port)`` answers on a thread of its own (standard library only):

- ``GET /healthz`` (liveness): 200 while every elector is *live* (not closed, campaigning when
  wanted, no callback stuck past its bound), else 503. A store outage does not fail it: a
  restart cannot fix the store, and a restarted leader only loses its lease sooner.
- ``GET /readyz`` (readiness): 200 while every elector is *healthy* (live, hearing from its
  store, renewing on schedule), else 503. A follower that waits is ready.
- ``GET /leader``: 200 while an elector leads (``?election=NAME`` for one), else 503: for
  routing to the leader only.
- ``GET /metrics``: the Prometheus exposition of ``registry`` (default: prometheus_client's
  global one), when prometheus_client is installed; 404 otherwise.

Bodies are JSON (each elector's ``Health.as_dict()``); none carries a URL or a credential.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .elector import Elector
from .errors import ConfigError
from .health import Health
from .signalmask import start_quiet

Electors = Sequence[Elector] | Callable[[], Sequence[Elector]]
TIMEOUT = 2.0  # seconds a probe connection may stay silent


class ProbeServer:
    """A running probe server; ``close()`` stops it and its thread."""

    def __init__(
        self,
        electors: Electors,
        port: int,
        host: str,
        registry: Any = None,
        callback_limit: float | None = None,
    ) -> None:
        self._electors = electors
        self._registry = registry
        self._callback_limit = callback_limit
        owner = self

        class Handler(_Handler):
            probes = owner

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = False  # close() joins them (each ends within TIMEOUT)
        self._server.block_on_close = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="leaselect-probes", daemon=True
        )
        start_quiet(self._thread)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def healths(self) -> list[Health]:
        electors = self._electors() if callable(self._electors) else self._electors
        return [elector.health(self._callback_limit) for elector in electors]

    def leading(self, election: str | None) -> bool:
        electors = self._electors() if callable(self._electors) else self._electors
        return any(e.is_leader for e in electors if election is None or e.name == election)

    def metrics(self) -> tuple[bytes, str] | None:
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
        except ImportError:
            return None
        return generate_latest(self._registry or REGISTRY), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Stop answering; returns once every connection's thread ended (``TIMEOUT`` for an
        idle client at most)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> ProbeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    probes: ProbeServer
    timeout = TIMEOUT  # an idle or slow client holds its thread this long at most

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/healthz", "/readyz"):
            healths = self.probes.healths()
            ok = all(h.live if url.path == "/healthz" else h.healthy for h in healths)
            self._json(200 if ok else 503, {"ok": ok, "electors": [h.as_dict() for h in healths]})
        elif url.path == "/leader":
            election = parse_qs(url.query).get("election", [None])[0]
            leading = self.probes.leading(election)
            self._json(200 if leading else 503, {"leading": leading})
        elif url.path == "/metrics" and (metrics := self.probes.metrics()) is not None:
            body, content_type = metrics
            self._send(200, body, content_type)
        else:
            self._json(404, {"error": "not found", "paths": list(PATHS)})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would flood the log


PATHS = ("/healthz", "/readyz", "/leader", "/metrics")


def serve(
    electors: Electors,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    registry: Any = None,
    callback_limit: float | None = None,
) -> ProbeServer:
    """Answer the probes for ``electors`` (a sequence, or a callable returning the current
    ones) on ``host:port`` (0: a free port, see ``ProbeServer.port``)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be an integer in 0..65535, got {port!r}")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"host must be a non-empty string, got {host!r}")
    if callback_limit is not None and (
        isinstance(callback_limit, bool)
        or not isinstance(callback_limit, int | float)
        or not callback_limit > 0
    ):
        raise ConfigError(f"callback_limit must be a positive number, got {callback_limit!r}")
    try:
        return ProbeServer(electors, port, host, registry, callback_limit)
    except OSError as exc:
        raise ConfigError(f"cannot serve probes on {host}:{port}: {exc.strerror}") from None
