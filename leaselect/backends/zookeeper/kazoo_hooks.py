"""kazoo's private internals, touched here and nowhere else.

kazoo (tested: 2.10, 2.11) keeps neither the session timeout the server negotiated nor when its
pings are answered. We wrap three methods of ``client._connection`` (a ``ConnectionHandler``):

- ``_connect(host, hostip, port)``: the handshake; returns ``(read_timeout_ms, connect_ms)``
  where ``read_timeout`` is 2/3 of the negotiated session timeout. A call starts a new
  connection *epoch* before any request can be sent on that connection.
- ``_send_ping(connect_timeout)`` and ``_read_socket(read_timeout)``: both run on kazoo's
  connection thread; a read that clears ``ping_outstanding`` consumed the answer to the last ping.

``install`` checks every attribute first. If one is missing it installs nothing, logs one
WARNING and returns False: the caller then counts connection epochs from state changes, takes
the negotiated timeout from the server's ``conf`` four-letter word, and proves every renewal
with requests of its own (slower hand-over, same safety).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...clock import SYSTEM_CLOCK, Clock
from ...logfields import store_log

log = store_log("zk")

CONNECTION_ATTRIBUTES = ("_connect", "_send_ping", "_read_socket", "ping_outstanding")
_warned = False

OnHandshake = Callable[[float, float], None]  # handshake start (clock), negotiated s
OnPing = Callable[[float, float], None]  # ping sent, answer read (clock)


def missing(client: Any) -> list[str]:
    """The internals ``install`` needs that this kazoo client lacks."""
    connection = getattr(client, "_connection", None)
    if connection is None:
        return ["_connection"]
    return [
        f"_connection.{name}" for name in CONNECTION_ATTRIBUTES if not hasattr(connection, name)
    ]


def install(
    client: Any, on_handshake: OnHandshake, on_ping: OnPing, clock: Clock = SYSTEM_CLOCK
) -> bool:
    """Hook ``client``'s handshake and pings (times read from ``clock``); False (and one
    WARNING) if kazoo lacks them."""
    absent = missing(client)
    if absent:
        _warn_once(absent)
        return False
    connection = client._connection
    handshake, send_ping, read_socket = (
        connection._connect,
        connection._send_ping,
        connection._read_socket,
    )
    ping_sent = [0.0]

    def connect(host: str, hostip: str, port: int) -> Sequence[float]:
        started = clock.now()
        ping_sent[0] = 0.0
        read_timeout, connect_timeout = handshake(host, hostip, port)
        on_handshake(started, round(read_timeout * 1.5) / 1000.0)
        return read_timeout, connect_timeout

    def ping(connect_timeout: float) -> None:
        ping_sent[0] = clock.now()
        send_ping(connect_timeout)

    def read(read_timeout: float) -> Any:
        waiting = connection.ping_outstanding.is_set()
        result = read_socket(read_timeout)
        if waiting and not connection.ping_outstanding.is_set() and ping_sent[0]:
            on_ping(ping_sent[0], clock.now())
        return result

    connection._connect, connection._send_ping, connection._read_socket = connect, ping, read
    return True


def _warn_once(absent: list[str]) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "this kazoo lacks %s: ZooKeeper leases fall back to the server's conf four-letter "
            "word for the session timeout and prove every renewal with their own requests",
            ", ".join(absent),
        )
