"""The etcd adapter (``etcd://``, ``etcds://``): the backend in ``backend``."""

from .backend import EtcdBackend
from .candidacy import EtcdCandidacy
from .session import EtcdSession

__all__ = ["EtcdBackend", "EtcdCandidacy", "EtcdSession"]
