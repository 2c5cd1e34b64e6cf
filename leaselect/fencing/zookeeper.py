"""Data kept in the election's ZooKeeper: a ``multi`` applied only while the tenure's node lives.

The transaction starts with a ``check`` of the tenure's leader node (any version: existence),
so ZooKeeper applies the caller's operations only while that node exists. The node is
ephemeral: it goes when the tenure's session expires or the tenure is released, and a later
candidate leads only once it is gone. Its path holds a GUID drawn for that node alone, so a
node at that path is that tenure's (czxid = the token). It guards writes to this ensemble only
(paths as the election's client sees them, inside its chroot); data elsewhere needs the token
rule::

    fence = ZooKeeperFence(elector.backend)
    fence.write(lease, lambda txn: txn.set_data("/app/config", b"v2"))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError, RolledBackError, RuntimeInconsistency

from ..backend import Backend
from ..backends.zookeeper import ZooKeeperBackend
from ..backends.zookeeper.client import mapped_errors
from ..lease import Lease
from .rule import Guard, StaleToken


class ZooKeeperFence:
    """Guarded transactions on the ZooKeeper ensemble of ``backend`` (a ZooKeeper backend)."""

    def __init__(self, backend: Backend) -> None:
        if not isinstance(backend, ZooKeeperBackend):
            raise TypeError(f"ZooKeeperFence needs a ZooKeeper backend, not {backend!r}")
        self._backend = backend

    def guard(self, lease: Lease) -> Guard:
        """The guard of ``lease``, a tenure this process leads now; ``StaleToken`` if not.

        A guard taken while leading and used after a pause is still checked by ZooKeeper."""
        return Guard.of(lease, self._backend.leader_node(lease.name, lease.token))

    def write(self, guard: Lease | Guard, ops: Callable[[Any], object]) -> list[Any]:
        """Commit ``ops(txn)`` (calls on a kazoo ``TransactionRequest``) iff the guarded node
        still exists: the operations' results, or ``StaleToken``. An operation of ``ops`` that
        fails raises its kazoo error (nothing is applied either way)."""
        held = self.guard(guard) if isinstance(guard, Lease) else guard
        conn = self._backend.conn
        with mapped_errors(f"fenced write of {held.name!r}", conn.config.redacted):
            txn = conn.client().transaction()
            txn.check(held.entry, -1)
            ops(txn)
            results: list[Any] = txn.commit_async().get(timeout=conn.config.connect_timeout)
        errors = [result for result in results if isinstance(result, Exception)]
        if not errors:
            return results[1:]
        if isinstance(results[0], NoNodeError):
            raise StaleToken(held.name, held.token, None)
        raise ([e for e in errors if not _rolled_back(e)] or errors)[0]


def _rolled_back(result: Exception) -> bool:
    """An operation of a failed multi that did not fail itself (rolled back, or not run)."""
    return isinstance(result, RolledBackError | RuntimeInconsistency)
