"""Shared fixtures: one parametrized ``store`` for every backend the contract covers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import leaselect
from leaselect.backend import Backend
from tests.support.stores import STORES, Store, implemented, url_for

pytest_plugins = ["pytester"]  # tests/plugin runs leaselect's pytest plugin in pytests of its own


# Every backend that exists runs the contract; in CI its server must be there (no skips).
CONTRACT_STORES = [kind for kind in STORES if implemented(kind)]


@pytest.fixture(params=CONTRACT_STORES)
def store(request: pytest.FixtureRequest) -> Store:
    """Each backend in turn; in CI a missing store fails rather than skips."""
    return STORES[request.param]


@pytest.fixture
def store_url(store: Store, tmp_path: Path) -> str:
    """A URL of the store under test."""
    return url_for(store.kind, str(tmp_path))


@pytest.fixture
def election() -> str:
    """A fresh election name, so tests never see each other's leases."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backends(store_url: str) -> Iterator[Callable[[], Backend]]:
    """Open independent connections to the store under test; all closed afterwards."""
    opened: list[Backend] = []

    def open_backend() -> Backend:
        backend = leaselect.connect(store_url)
        opened.append(backend)
        return backend

    yield open_backend
    for backend in opened:
        backend.close()
