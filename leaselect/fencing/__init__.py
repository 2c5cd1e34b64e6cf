"""Fencing: the resource, not the lease, rejects a superseded leader's writes.

A leader can act after its tenure ended (a GC pause, a SIGSTOP, a late packet); no lease
prevents that. The rule and ``StaleToken`` are in ``rule``; one fence per place the data lives:

- ``SqliteFence``: a SQLite file; the token rule in the write's transaction.
- ``RedisFence``: a Redis; the token rule in a Lua script (``FENCED_COMMAND``).
- ``EtcdFence``: data kept in the etcd of the election; a transaction guarded by the tenure's
  leader key keeping its create revision (the token).
- ``ZooKeeperFence``: data kept in the ZooKeeper of the election; a ``multi`` guarded by a
  ``check`` of the tenure's leader node (whose czxid is the token).

Each refuses with ``StaleToken``. The store fences load their client library on first use, so
``import leaselect.fencing`` needs none of them. What each one checks, and what it cannot:
docs/fencing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .rule import Guard, StaleToken, admits
from .sqlite import SqliteFence

if TYPE_CHECKING:
    from .etcd import EtcdFence, delete_op, put_op
    from .redis import FENCED_COMMAND, RedisFence
    from .zookeeper import ZooKeeperFence

_LAZY = {
    "EtcdFence": "etcd",
    "put_op": "etcd",
    "delete_op": "etcd",
    "FENCED_COMMAND": "redis",
    "RedisFence": "redis",
    "ZooKeeperFence": "zookeeper",
}

__all__ = [
    "FENCED_COMMAND",
    "EtcdFence",
    "Guard",
    "RedisFence",
    "SqliteFence",
    "StaleToken",
    "ZooKeeperFence",
    "admits",
    "delete_op",
    "put_op",
]


def __getattr__(name: str) -> Any:
    """The store fences, imported on first use (each needs its store's client library)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
