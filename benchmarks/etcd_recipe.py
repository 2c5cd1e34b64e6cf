"""The etcd election recipe written directly on etcd3gw: the baseline leaselect is measured against.

Modelled on etcd's Go ``concurrency.Election``: one lease kept alive every ttl/3 by a thread;
Campaign puts ``<prefix>/<lease hex>`` if absent, then waits for the deletion of every key with
a lower create revision, one predecessor at a time; Resign deletes the key. No fencing, no local
deadline (the Go client trusts its keep-alive channel) - a fair minimal version, not a library.
"""

from __future__ import annotations

import threading

import etcd3gw
from etcd3gw.client import Etcd3Client
from etcd3gw.utils import _increment_last_byte


class RecipeElection:
    """Campaign / resign on one etcd3gw client and lease."""

    def __init__(self, client: Etcd3Client, name: str, ttl: int) -> None:
        self.client = client
        self.prefix = f"/bench-recipe/{name}/"
        self.lease = client.lease(ttl)
        self.key = f"{self.prefix}{self.lease.id:x}"
        self.ttl = ttl
        self._stop = threading.Event()
        threading.Thread(target=self._keep_alive, daemon=True).start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self.lease.refresh()

    def campaign(self) -> int:
        """Block until leader; return the leader key's create revision."""
        self.client.create(self.key, "x", lease=self.lease)
        mine = self.client.get(self.key, metadata=True)[0][1]
        rev = int(mine["create_revision"])
        while True:
            older = self.client.get(
                self.prefix,
                metadata=True,
                sort_order="descend",
                sort_target="create",
                range_end=_increment_last_byte(self.prefix),
                limit=1,
                max_create_revision=rev - 1,
            )
            if not older:
                return rev
            key = older[0][1]["key"]
            header = int(older[0][1]["mod_revision"])
            self.client.watch_once(
                key, timeout=self.ttl * 10, start_revision=header + 1, filters=["NOPUT"]
            )

    def resign(self) -> None:
        """Give leadership up."""
        self.client.delete(self.key)

    def close(self) -> None:
        """Stop the keep-alive and revoke the lease."""
        self._stop.set()
        self.lease.revoke()


def connect(host: str, port: int) -> Etcd3Client:
    """A client for one endpoint."""
    return etcd3gw.client(host=host, port=port, api_path="/v3/")
