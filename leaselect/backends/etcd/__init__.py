"""The etcd adapter (``etcd://``, ``etcds://``): the backend in ``backend``."""

from .backend import EtcdBackend, EtcdSession
from .candidacy import EtcdCandidacy

__all__ = ["EtcdBackend", "EtcdCandidacy", "EtcdSession"]
