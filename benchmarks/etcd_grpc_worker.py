"""The etcd election recipe on python-etcd3 (gRPC), as one contender process of the benchmark.

Runs in its own virtualenv (``bash benchmarks/grpc_venv.sh``: python-etcd3 needs protobuf < 4,
which leaselect's environment does not have), so it imports neither leaselect nor the other
benchmark modules. Same recipe as ``benchmarks/etcd_recipe.py`` (etcd's Go
``concurrency.Election``): one lease kept alive every ttl/3, put-if-absent, wait for the delete
of the key just before ours (``watch_once``), then read again; resign deletes the key.

python etcd_grpc_worker.py HOST:PORT NAME TTL rounds HOLD N | hold | keepalive N
Prints the JSON event lines of ``benchmarks.events`` (times on CLOCK_BOOTTIME).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from contextlib import suppress
from typing import Any

import etcd3  # type: ignore[import-not-found]


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"e": event, "t": now(), **fields}), flush=True)


def hold_time(spec: str) -> float:
    low, _, high = spec.partition(":")
    return random.uniform(float(low), float(high)) if high else float(low)


class GrpcRecipeElection:
    """Campaign / resign on one python-etcd3 client and lease."""

    def __init__(self, client: Any, name: str, ttl: int) -> None:
        self.client = client
        self.prefix = f"/bench-grpc-recipe/{name}/"
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
        client = self.client
        client.transaction(
            compare=[client.transactions.create(self.key) == 0],
            success=[client.transactions.put(self.key, "x", lease=self.lease)],
            failure=[],
        )
        _, mine = client.get(self.key)
        rev = int(mine.create_revision)
        while True:
            # python-etcd3 0.12 drops limit and max_create_revision from a range request, so
            # the predecessor (the newest key older than ours) is picked here
            older = [
                meta
                for _, meta in client.get_prefix(self.prefix, sort_target="create")
                if int(meta.create_revision) < rev
            ]
            if not older:
                return rev
            meta = max(older, key=lambda m: int(m.create_revision))
            with suppress(etcd3.exceptions.WatchTimedOut):
                client.watch_once(
                    meta.key,
                    timeout=self.ttl * 10,
                    start_revision=int(meta.mod_revision) + 1,
                )  # no NOPUT filter: python-etcd3 0.12 cannot set one; nobody puts the key

    def resign(self) -> None:
        self.client.delete(self.key)

    def close(self) -> None:
        self._stop.set()
        self.lease.revoke()


def main() -> None:
    endpoint, name, ttl, *mode = sys.argv[1:]
    host, _, port = endpoint.rpartition(":")
    client = etcd3.client(host=host, port=int(port))
    election = GrpcRecipeElection(client, name, int(float(ttl)))
    if mode[0] == "keepalive":
        samples = []
        for _ in range(int(mode[1])):
            start = now()
            election.lease.refresh()
            samples.append(now() - start)
        emit("keepalive", samples=samples)
        election.close()
        return
    emit("ready")
    if mode[0] == "hold":
        emit("elected", token=election.campaign())
        time.sleep(3600)
    for _ in range(int(mode[2])):
        token = election.campaign()
        emit("elected", token=token)
        time.sleep(hold_time(mode[1]))
        emit("release", token=token)
        election.resign()
    election.close()


if __name__ == "__main__":
    main()
