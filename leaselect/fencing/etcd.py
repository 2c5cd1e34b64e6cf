"""Data kept in the election's etcd: a transaction applied only while the tenure's key lives.

etcd's ``IsOwner`` idea: the comparison ``create_revision(leader key) == token`` travels in the
same transaction as the writes, so etcd itself refuses a superseded tenure's write, whatever
its local clock believes. The key exists exactly while the tenure leads in etcd (a later key
only leads once every earlier one is gone, and a key's create revision is never reused). It
guards writes to this etcd cluster only; data elsewhere needs the token rule::

    fence = EtcdFence(elector.backend)
    fence.write(lease, [put_op("/app/config", "v2")])
"""

from __future__ import annotations

from collections.abc import Sequence

from ..backend import Backend
from ..backends.etcd import EtcdBackend
from ..backends.etcd.transport import Json, b64, by_create, candidates, same_revision
from ..lease import Lease
from .rule import Guard, StaleToken


def put_op(key: str, value: str | bytes) -> Json:
    """A put for ``EtcdFence.write``."""
    return {"request_put": {"key": b64(key), "value": b64(value)}}


def delete_op(key: str) -> Json:
    """A delete of one key for ``EtcdFence.write``."""
    return {"request_delete_range": {"key": b64(key)}}


class EtcdFence:
    """Guarded transactions on the etcd cluster of ``backend`` (an etcd backend)."""

    def __init__(self, backend: Backend) -> None:
        if not isinstance(backend, EtcdBackend):
            raise TypeError(f"EtcdFence needs an etcd backend, not {backend!r}")
        self._backend = backend

    def guard(self, lease: Lease) -> Guard:
        """The guard of ``lease``, a tenure this process leads now; ``StaleToken`` if not.

        A guard taken while leading and used after a pause is still checked by etcd."""
        return Guard.of(lease, self._backend.leader_key(lease.name, lease.token))

    def write(self, guard: Lease | Guard, ops: Sequence[Json]) -> list[Json]:
        """Apply ``ops`` atomically iff the guarded tenure still leads in etcd: their responses,
        or ``StaleToken`` (with the token of the election's current first key, if any)."""
        held = self.guard(guard) if isinstance(guard, Lease) else guard
        directory = self._backend.election_prefix(held.name)
        reply = self._backend.post(
            "kv/txn",
            {
                "compare": [same_revision(held.entry, held.token)],
                "success": list(ops),
                "failure": [{"request_range": {**by_create(directory), "keys_only": True}}],
            },
        )
        responses: list[Json] = reply.get("responses", [])
        if reply.get("succeeded"):
            return responses
        kvs = responses[0].get("response_range", {}).get("kvs", []) if responses else []
        first = candidates(directory, kvs)
        newest = int(first[0]["create_revision"]) if first else None
        raise StaleToken(held.name, held.token, newest)
