"""Fixtures of the Redis tests."""

from __future__ import annotations

import pytest

from tests.support.stores import require_url


@pytest.fixture
def url() -> str:
    """The test server's URL."""
    return require_url("redis")
