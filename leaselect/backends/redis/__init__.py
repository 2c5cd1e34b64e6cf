"""The Redis adapter (``redis://``, ``rediss://``, ``unix://``): the backend in ``backend``."""

from .backend import RedisBackend, RedisCandidacy, RedisSession

__all__ = ["RedisBackend", "RedisCandidacy", "RedisSession"]
