"""What the parts of an election (a candidacy, its wait for its predecessor, its session) use of
the etcd backend (``EtcdBackend``): declared here so that none of them imports the backend."""

from __future__ import annotations

from typing import Protocol

from ...clock import Clock
from .deletes import DeleteFeed
from .transport import Json, Transport


class Cluster(Protocol):
    """The backend as a candidacy sees it."""

    @property
    def transport(self) -> Transport: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def deletes(self) -> DeleteFeed: ...
    def election_prefix(self, name: str) -> str: ...
    def post(self, path: str, body: Json) -> Json: ...
