"""Leader watches on a Redis whose ACL denies the pub/sub commands (a private redis-server): the
elections still work and say once that watches are not told; a watch fails with a clear error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import leaselect
from leaselect.errors import ConfigError
from tests.support.private import PrivateRedis

SECRET = "s3cret-watch-pw"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[str]:
    """A Redis user that may run every command except PUBLISH and SUBSCRIBE."""
    server = PrivateRedis(tmp_path)
    admin = redis.Redis(port=server.port)
    admin.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", "app", "on", f">{SECRET}", "~*", "&*", "+@all", "-publish", "-subscribe"
    )
    admin.close()
    yield f"redis://app:{SECRET}@127.0.0.1:{server.port}/0"
    server.close()


def test_elections_work_without_publish_and_say_so_once(
    limited: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="leaselect")
    a = leaselect.Elector(limited, "acl", ttl=2, identity="a")
    b = leaselect.Elector(limited, "acl", ttl=2, identity="b")
    try:
        first = a.acquire(timeout=5)
        assert first is not None
        b.start()
        a.release()
        second = b.acquire(timeout=5)
        assert second is not None and second.token > first.token
    finally:
        a.close()
        b.close()
    said = [r.getMessage() for r in caplog.records if "may not PUBLISH" in r.getMessage()]
    assert len(said) == 1 and SECRET not in said[0]


def test_a_watch_the_acl_refuses_raises_a_clear_error(limited: str) -> None:
    watch = leaselect.watch(limited, "acl")
    with pytest.raises(ConfigError, match="may not SUBSCRIBE") as refused:
        list(watch)
    assert SECRET not in str(refused.value)


def test_on_new_leader_refused_is_logged_and_the_election_goes_on(
    limited: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="leaselect")
    elector = leaselect.Elector(limited, "acl2", ttl=2, on_new_leader=lambda leader: None)
    try:
        assert elector.acquire(timeout=5) is not None
        for _ in range(100):
            if any("on_new_leader stops" in r.getMessage() for r in caplog.records):
                break
            elector.lost.wait(0.05)
        assert any("may not SUBSCRIBE" in r.getMessage() for r in caplog.records)
        assert elector.is_leader
    finally:
        elector.close()
