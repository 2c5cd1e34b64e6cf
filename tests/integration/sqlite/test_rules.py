"""The embedded store's pure rules (tokens, clock domains, options) and small file cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import leaselect
from leaselect.backends.sqlite.hostclock import clock_domain, describe_domain
from leaselect.backends.sqlite.tokens import next_token
from leaselect.errors import ConfigError


@pytest.mark.parametrize(
    ("counter", "floor", "wall_us", "expected"),
    [
        (0, 0, 1_000, 1_000),  # a new file: the wall clock
        (5, 0, 1_000, 1_000),  # an old counter is passed by the clock
        (2_000, 0, 1_000, 2_001),  # the clock stepped back: the counter still increases
        (0, 3_000, 1_000, 3_001),  # a replaced file: what this process saw is the floor
        (4_000, 3_000, 1_000, 4_001),
    ],
)
def test_next_token(counter: int, floor: int, wall_us: int, expected: int) -> None:
    assert next_token(counter, floor, wall_us) == expected


def test_clock_domain_names_this_boot() -> None:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        assert clock_domain().startswith(f.read().strip() + "/")


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("b/0:0", "CLOCK_BOOTTIME offset 0 s"),
        ("b/100000:500000000", "CLOCK_BOOTTIME offset 100000 s"),
        ("b/ns:4026531834", "time namespace 4026531834"),
    ],
)
def test_describe_domain(domain: str, words: str) -> None:
    assert describe_domain(domain).startswith(words)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("busy_timeout=abc", "busy_timeout"),
        ("busy_timeout=-1", "busy_timeout"),
        ("busy_timeout=nan", "busy_timeout"),
        ("busy_timeout=1e300", "busy_timeout"),
        ("access=world", "access"),
        ("timout=5", "timout"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, query: str, parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        leaselect.connect(f"sqlite:///{tmp_path}/x.db?{query}")


def test_a_removed_wake_directory_is_recreated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/leases.db"
    leader, waiter = leaselect.Elector(url, "n", ttl=5), leaselect.Elector(url, "n", ttl=5)
    try:
        assert leader.acquire(5) is not None
        shutil.rmtree(f"{tmp_path}/leases.db-wake")
        assert waiter.acquire(0.2) is None  # queued: needs a wake-up socket
        waiter.start()
        leader.release()
        assert waiter.acquire(1.0) is not None  # woken by the release, not by the expiry
    finally:
        leader.close()
        waiter.close()
