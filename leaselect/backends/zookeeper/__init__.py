"""The ZooKeeper adapter (``zk://``, ``zks://``): the backend in ``backend``."""

from .backend import ZooKeeperBackend
from .candidacy import ZooKeeperCandidacy
from .session import ZooKeeperSession

__all__ = ["ZooKeeperBackend", "ZooKeeperCandidacy", "ZooKeeperSession"]
