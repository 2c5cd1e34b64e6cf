"""The former home of etcd's fenced writes, kept so code that imports it still runs: new code
uses ``leaselect.fencing.EtcdFence``, which raises ``StaleToken`` where ``guarded_txn`` returns
False."""

from __future__ import annotations

from collections.abc import Sequence

from ..backend import Backend
from ..errors import NotLeader
from ..fencing.etcd import EtcdFence, delete_op, put_op
from ..fencing.rule import StaleToken
from ..lease import Lease
from .etcd import EtcdBackend
from .etcd.transport import Json, same_revision

__all__ = ["delete_op", "guarded_txn", "owner_compare", "put_op"]


def owner_compare(backend: Backend, lease: Lease) -> Json:
    """The txn comparison that holds while ``lease`` leads; ``NotLeader`` if not ours."""
    try:
        guard = EtcdFence(backend).guard(lease)
    except StaleToken:
        raise NotLeader(
            f"this process does not lead {lease.name!r} with token {lease.token}"
        ) from None
    return same_revision(guard.entry, guard.token)


def guarded_txn(backend: Backend, guard: Lease | Json, ops: Sequence[Json]) -> bool:
    """Apply ``ops`` atomically iff the guarded tenure still leads in etcd; False if superseded.

    ``guard`` is a lease of this process, or an ``owner_compare`` taken while it led."""
    compare = owner_compare(backend, guard) if isinstance(guard, Lease) else guard
    if not isinstance(backend, EtcdBackend):
        raise TypeError("guarded_txn needs an etcd backend")
    reply = backend.post("kv/txn", {"compare": [compare], "success": list(ops), "failure": []})
    return bool(reply.get("succeeded"))
