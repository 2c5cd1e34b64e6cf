"""Fixtures of the ZooKeeper tests: the test ensemble's URL, a plain kazoo client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from leaselect.backends.zookeeper.client import ClientConfig
from leaselect.urls import parse
from tests.support.stores import require_url


@pytest.fixture
def url() -> str:
    """The test ensemble's URL."""
    return require_url("zookeeper")


@pytest.fixture
def raw(url: str) -> Iterator[KazooClient]:
    """A plain kazoo client on the same ensemble, to inspect and meddle."""
    client = KazooClient(hosts=ClientConfig.from_url(parse(url)).hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()
