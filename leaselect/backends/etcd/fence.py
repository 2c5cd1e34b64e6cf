"""Fencing inside etcd: writes that apply only while our leader key keeps our create revision.

This is etcd's ``IsOwner`` idea: the comparison travels in the same transaction as the writes,
so etcd itself rejects the write of a superseded leader, whatever its local clock believes::

    ok = guarded_txn(backend, lease, [put_op("/app/config", "v2")])
"""

from __future__ import annotations

from collections.abc import Sequence

from ...backend import Backend
from ...errors import NotLeader
from ...lease import Lease
from .backend import EtcdBackend
from .transport import Json, b64, same_revision


def owner_compare(backend: Backend, lease: Lease) -> Json:
    """The txn comparison that holds while ``lease`` leads; ``NotLeader`` if not ours."""
    if not isinstance(backend, EtcdBackend):
        raise TypeError("owner_compare needs an etcd backend")
    key = backend.owned.get((lease.name, lease.token))
    if key is None:
        raise NotLeader(f"this process does not lead {lease.name!r} with token {lease.token}")
    return same_revision(key, lease.token)


def put_op(key: str, value: str | bytes) -> Json:
    """A put for ``guarded_txn``."""
    return {"request_put": {"key": b64(key), "value": b64(value)}}


def delete_op(key: str) -> Json:
    """A delete of one key for ``guarded_txn``."""
    return {"request_delete_range": {"key": b64(key)}}


def guarded_txn(backend: Backend, guard: Lease | Json, ops: Sequence[Json]) -> bool:
    """Apply ``ops`` atomically iff the guarded tenure still leads in etcd; False if superseded.

    ``guard`` is a lease of this process, or an ``owner_compare`` taken while it led (a write
    prepared during the tenure and sent after a pause is still fenced by etcd).
    """
    compare = owner_compare(backend, guard) if isinstance(guard, Lease) else guard
    if not isinstance(backend, EtcdBackend):
        raise TypeError("guarded_txn needs an etcd backend")
    reply = backend.post("kv/txn", {"compare": [compare], "success": list(ops), "failure": []})
    return bool(reply.get("succeeded"))
