"""pytest fixtures for testing your own leader-only code (entry point ``pytest11``: active once
leaselect is installed). docs/testing.md shows each in a test.

- ``leaselect_url``: a fresh embedded store per test, or the store of ``--leaselect-url`` /
  ``$LEASELECT_TEST_URL`` (for example the docker-compose services);
- ``leaselect_election``: an election name of this test's own (a shared store stays clean);
- ``leaselect_backend``: ``connect(leaselect_url)``, closed after the test;
- ``leaselect_clock``: a ``FakeClock`` to pass as ``Elector(clock=...)``: time moves only when
  the test calls ``advance`` (the local deadline, jeopardy and expiry without sleeping);
- ``leaselect_expire(name)``: delete the current leader's lease in the store, as its expiry
  would: the holder loses it at its next renewal, the next in line takes over;
- ``leaselect_take(name)``: expire it and have another elector take it (returned; closed after
  the test): the holder loses it with reason ``taken`` or ``expired`` (store-dependent);
- ``leaselect_cut``: ``leaselect_cut.url`` reaches the store through a proxy and ``with
  leaselect_cut.cut():`` cuts every connection made through it off (nothing is answered, nothing
  is closed: a partition) until the block ends; on the embedded store ``url`` is the store and
  the cut holds the database's write lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .backend import Backend
from .elector import Elector
from .registry import connect
from .testing import FakeClock, PartitionProxy, proxied_url
from .urls import parse

URL_ENV = "LEASELECT_TEST_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leaselect")
    group.addoption(
        "--leaselect-url",
        default=None,
        help=f"store URL for the leaselect_url fixture (else ${URL_ENV}, else a fresh embedded "
        "store per test)",
    )


@pytest.fixture
def leaselect_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store the test's electors use."""
    chosen = request.config.getoption("--leaselect-url") or os.environ.get(URL_ENV)
    if chosen:
        parse(chosen)  # a bad URL fails here, with leaselect's message
        return str(chosen)
    return f"sqlite:///{tmp_path}/leaselect.db"


@pytest.fixture
def leaselect_election() -> str:
    """A fresh election name."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def leaselect_backend(leaselect_url: str) -> Iterator[Backend]:
    backend = connect(leaselect_url)
    yield backend
    backend.close()


@pytest.fixture
def leaselect_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def leaselect_expire(leaselect_backend: Backend) -> Callable[[str], bool]:
    """``expire(name)``: True if a lease was there to expire."""
    return leaselect_backend.expire_lease


@pytest.fixture
def leaselect_take(
    leaselect_url: str, leaselect_backend: Backend
) -> Iterator[Callable[[str], Elector]]:
    """``take(name, ttl=15)``: expire the lease and lead with an elector of its own (returned;
    it has a backend of its own, so its TTL need not match the test's)."""
    takers: list[Elector] = []

    def take(name: str, ttl: float = 15.0, timeout: float = 30.0) -> Elector:
        taker = Elector(connect(leaselect_url), name, ttl=ttl, identity="leaselect-test-taker")
        takers.append(taker)
        taker.start()
        leaselect_backend.expire_lease(name)
        if taker.acquire(timeout=timeout) is None:
            raise TimeoutError(f"could not take {name!r} within {timeout:g} s")
        return taker

    yield take
    for taker in takers:
        taker.close()
        taker.backend.close()


class Cut:
    """``url`` to give the electors under test; ``cut()`` partitions them from the store."""

    def __init__(self, url: str) -> None:
        self.store_url = url
        self._proxy = None if parse(url).scheme == "sqlite" else PartitionProxy(url)
        self.url = url if self._proxy is None else proxied_url(url, self._proxy.port)

    @contextlib.contextmanager
    def cut(self) -> Iterator[None]:
        if self._proxy is not None:
            with self._proxy.partitioned():
                yield
            return
        path = "/" + parse(self.store_url).path.lstrip("/")
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            db.execute("BEGIN EXCLUSIVE")  # every write waits: renewals fail
            yield
        finally:
            db.close()

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()


@pytest.fixture
def leaselect_cut(leaselect_url: str) -> Iterator[Cut]:
    cut = Cut(leaselect_url)
    yield cut
    cut.close()
