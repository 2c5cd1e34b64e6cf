"""The documented import path of etcd's fenced writes before the adapters became subpackages:
the code lives in ``leaselect.backends.etcd.fence``."""

from .etcd.fence import delete_op, guarded_txn, owner_compare, put_op

__all__ = ["delete_op", "guarded_txn", "owner_compare", "put_op"]
