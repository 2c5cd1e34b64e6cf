"""The Redis adapter (``redis://``, ``rediss://``, ``unix://``): the backend in ``backend``."""

from .backend import RedisBackend, RedisSession
from .candidacy import RedisCandidacy

__all__ = ["RedisBackend", "RedisCandidacy", "RedisSession"]
