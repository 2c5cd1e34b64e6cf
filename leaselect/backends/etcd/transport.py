"""HTTP/JSON access to an etcd cluster's gRPC gateway through etcd3gw, with endpoint failover.

One ``requests`` session (TLS settings, auth token header) is shared by one ``Etcd3Client`` per
endpoint. A request goes to the endpoint that answered last; on a connection failure or timeout
the next endpoint is tried, all within one time budget, after which ``BackendUnavailable`` is
raised. Credentials never appear in messages: only ``host:port`` does.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from typing import Any

import requests
from etcd3gw import exceptions as gw_errors
from etcd3gw.client import Etcd3Client

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import BackendUnavailable, ConfigError, LeaselectError
from ...urls import StoreUrl

DEFAULT_PORT = 2379
DEFAULT_BUDGET = 2.0
CONNECT_TIMEOUT = 0.5
MIN_ATTEMPT = 0.2
API_PATH = "/v3/"
Json = dict[str, Any]


class LeaseNotFound(LeaselectError):
    """etcd no longer knows the lease (it expired or was revoked)."""


class TooManyOps(LeaselectError):
    """A transaction had more operations than the server's ``--max-txn-ops``."""


def b64(text: str | bytes) -> str:
    """etcd's JSON encoding of keys and values."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> str:
    """Decode a key or value from etcd's JSON."""
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with ``prefix`` (ASCII prefixes)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def by_create(directory: str) -> Json:
    """A range over ``directory`` sorted by create revision, oldest first."""
    return {
        "key": b64(directory),
        "range_end": b64(prefix_end(directory)),
        "sort_order": "ASCEND",
        "sort_target": "CREATE",
    }


def candidates(directory: str, kvs: list[Json]) -> list[Json]:
    """The entries of ``kvs`` that are candidate keys of ``directory`` itself.

    A range over ``<prefix>/<name>/`` also covers the keys of another backend whose prefix is
    ``<prefix>/<name>`` (nested prefixes); our candidate keys never hold a further ``/``.
    """
    return [kv for kv in kvs if "/" not in unb64(kv["key"])[len(directory) :]]


def same_revision(key: str, revision: int) -> Json:
    """A txn comparison: ``key`` still has create revision ``revision``."""
    return {
        "key": b64(key),
        "target": "CREATE",
        "result": "EQUAL",
        "create_revision": str(revision),
    }


def seconds_left(reply: Json) -> int:
    """The ``TTL`` of a LeaseTimeToLive reply: whole seconds left, truncated; -1 if etcd no
    longer knows the lease. The JSON gateway omits zero fields, so a lease in its last second
    answers with no ``TTL`` at all (reading that as "gone" disabled the expiry proof)."""
    return int(reply.get("TTL", 0))


def granted_seconds(reply: Json) -> int:
    """The ``TTL`` of a LeaseKeepAlive reply: seconds granted, 0 if etcd no longer knows the
    lease (the JSON omits a zero TTL). The gateway reports a stream error inside an HTTP 200
    reply as ``{"error": ...}`` without ``result``: that says nothing about the lease, so it is
    ``BackendUnavailable`` (retried), never "lease gone"."""
    if "result" not in reply:
        error = reply.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if message and "lease not found" in message:
            return 0
        raise BackendUnavailable(f"etcd keep-alive failed: {message or 'no result in reply'}")
    return int(reply["result"].get("TTL", 0))


class Transport:
    """Posts JSON to the gateway of the first reachable endpoint."""

    def __init__(
        self, url: StoreUrl, budget: float = DEFAULT_BUDGET, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        hosts = url.host_list(DEFAULT_PORT)
        if not hosts:
            raise ConfigError(f"etcd URL needs at least one host: {url.redacted!r}")
        self.budget = budget
        self.clock = clock  # the backend's: every deadline of the etcd adapter reads it
        self.session = requests.Session()
        protocol = "https" if url.scheme == "etcds" else "http"
        if protocol == "https":
            _configure_tls(self.session, url.options)
        self.clients = [
            Etcd3Client(h, p, protocol, timeout=budget, api_path=API_PATH, session=self.session)
            for h, p in hosts
        ]
        self._current = 0
        self._lock = threading.Lock()
        self._on_move: list[Callable[[], None]] = []  # called when requests move to another
        self._credentials = (url.username, url.password or "") if url.username else None

    @property
    def client(self) -> Etcd3Client:
        """The endpoint in use now."""
        with self._lock:
            return self.clients[self._current]

    def on_move(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (no lock held) whenever a request succeeded on another endpoint
        than the one in use: the old one failed it (down, frozen, cut off)."""
        with self._lock:
            self._on_move.append(listener)

    def describe(self) -> str:
        """The endpoints, for messages (no credentials)."""
        return ",".join(f"{c.host}:{c.port}" for c in self.clients)

    def post(self, path: str, body: Json) -> Json:
        """POST ``body`` to ``/v3/<path>``, failing over between endpoints within the budget."""
        deadline = self.clock.now() + self.budget
        with self._lock:
            start = self._current
        errors: list[str] = []
        count = len(self.clients)
        for attempt in range(count):
            index = (start + attempt) % count
            left = deadline - self.clock.now()  # then a real socket timeout: its share
            timeout = max(MIN_ATTEMPT, left / (count - attempt))
            try:
                result = self._post_once(self.clients[index], path, body, timeout)
            except BackendUnavailable as exc:
                errors.append(str(exc))
                if self.clock.now() >= deadline:
                    break
                continue
            with self._lock:
                moved, self._current = self._current != index, index
                listeners = list(self._on_move) if moved else []
            for listener in listeners:
                listener()
            return result
        raise BackendUnavailable(f"etcd unreachable ({self.describe()}): " + "; ".join(errors))

    def _post_once(self, client: Etcd3Client, path: str, body: Json, timeout: float) -> Json:
        where = f"{client.host}:{client.port}"
        if self._credentials is not None and "Authorization" not in self.session.headers:
            self._authenticate(client)
        for retry_auth in (True, False):
            try:
                response = self.session.post(
                    client.get_url(path), json=body, timeout=(CONNECT_TIMEOUT, timeout)
                )
            except requests.Timeout:
                raise BackendUnavailable(f"{where} timed out after {timeout:.2f}s") from None
            except requests.ConnectionError as exc:
                raise BackendUnavailable(f"{where}: {_short(exc)}") from None
            if response.status_code == 401 and retry_auth and self._credentials is not None:
                self._authenticate(client)
                continue
            return _decode_response(response, where)
        raise BackendUnavailable(f"{where}: authentication token rejected")

    def _authenticate(self, client: Etcd3Client) -> None:
        assert self._credentials is not None
        user, password = self._credentials
        self.session.headers.pop("Authorization", None)
        try:
            reply = client.post(
                client.get_url("auth/authenticate"), json={"name": user, "password": password}
            )
        except (gw_errors.ConnectionFailedError, gw_errors.ConnectionTimeoutError) as exc:
            raise BackendUnavailable(f"etcd {client.host}:{client.port}: {_short(exc)}") from None
        except gw_errors.Etcd3Exception:
            raise ConfigError(f"etcd rejected the credentials of user {user!r}") from None
        self.session.headers["Authorization"] = str(reply["token"])

    def close(self) -> None:
        """Close every pooled connection."""
        self.session.close()


def _decode_response(response: requests.Response, where: str) -> Json:
    if response.status_code == 200:
        result: Json = response.json()
        return result
    try:
        message = str(response.json().get("message", response.text))
    except ValueError:
        message = response.text[:200]
    if "lease not found" in message:
        raise LeaseNotFound(message)
    if "too many operations in txn request" in message:
        raise TooManyOps(f"etcd {where}: {message}")
    if response.status_code in (401, 403) or "permission denied" in message:
        raise ConfigError(f"etcd {where} refused the request: {message}")
    if response.status_code in (500, 503, 504, 408) or "timed out" in message:
        raise BackendUnavailable(f"etcd {where}: {message}")
    raise LeaselectError(f"etcd {where} answered {response.status_code}: {message}")


def _configure_tls(session: requests.Session, options: dict[str, str]) -> None:
    ca = options.get("ca") or os.environ.get("LEASELECT_ETCD_CA")
    cert = options.get("cert") or os.environ.get("LEASELECT_ETCD_CERT")
    key = options.get("key") or os.environ.get("LEASELECT_ETCD_KEY")
    for label, path in (("ca", ca), ("cert", cert), ("key", key)):
        if path and not os.path.isfile(path):
            raise ConfigError(f"etcd TLS {label} file not found: {path!r}")
    if ca:
        session.verify = ca
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify per request,
        # which would silently replace the CA the URL names: ignore the environment (and with it
        # proxy variables and .netrc) for this session
        session.trust_env = False
    if bool(cert) != bool(key):
        raise ConfigError("etcd TLS client authentication needs both cert= and key=")
    if cert and key:
        session.cert = (cert, key)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "detail_text", None) or exc)  # etcd3gw keeps its message there
    if "CERTIFICATE_VERIFY_FAILED" in text and "mismatch" in text:
        return "TLS: the server certificate is for another host name than the URL's"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS: the server certificate is not trusted by the configured CA"
    for marker in ("Connection refused", "timed out", "Connection reset", "Name or service"):
        if marker in text:
            return marker.lower()
    return text[:160] or type(exc).__name__
