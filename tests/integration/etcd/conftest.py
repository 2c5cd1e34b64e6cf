"""Fixtures of the etcd tests: the test cluster's URL, a backend of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import leaselect
from leaselect.backends.etcd import EtcdBackend
from tests.support.stores import require_url


@pytest.fixture
def url() -> str:
    """The test cluster's URL."""
    return require_url("etcd")


@pytest.fixture
def etcd_backend() -> Iterator[EtcdBackend]:
    """A backend of its own on the test cluster, closed afterwards."""
    opened = leaselect.connect(require_url("etcd"))
    assert isinstance(opened, EtcdBackend)
    yield opened
    opened.close()
