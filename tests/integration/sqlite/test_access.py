"""Who may touch the embedded store's files: only its owner unless the URL says otherwise."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest

import leaselect
from leaselect.errors import ConfigError
from tests.support.sqlite_worker import (
    Worker,
    as_user,
    shared_dir,
    throwaway_group,
    throwaway_user,
    waiters,
)
from tests.support.waiting import eventually

# Holds a shared lock on the WAL write-lock byte of the -shm file (offset 120), as any reader can.
FREEZE = """
import fcntl, os, sys, time
try:
    fd = os.open(sys.argv[1] + "-shm", os.O_RDONLY)
    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 120)
except OSError as exc:
    print("denied", type(exc).__name__, flush=True)
else:
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _modes(path: str) -> dict[str, int]:
    return {
        suffix: stat.S_IMODE(os.stat(path + suffix).st_mode)
        for suffix in ("", "-wal", "-shm")
        if os.path.exists(path + suffix)
    }


def test_store_files_are_created_private(name: str) -> None:
    with shared_dir() as directory:
        path = f"{directory}/leases.db"
        elector = leaselect.Elector(f"sqlite://{path}", name, ttl=1)
        try:
            assert elector.acquire(5) is not None
            modes = _modes(path)
            assert set(modes) == {"", "-wal", "-shm"}
            assert all(mode & 0o077 == 0 for mode in modes.values()), modes
        finally:
            elector.close()


def test_group_access_creates_group_files(name: str) -> None:
    with shared_dir() as directory:
        path = f"{directory}/leases.db"
        elector = leaselect.Elector(f"sqlite://{path}?access=group", name, ttl=1)
        try:
            assert elector.acquire(5) is not None
            assert set(_modes(path).values()) == {0o660}, _modes(path)
        finally:
            elector.close()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_store_others_can_read_is_refused_unless_asked(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "leases.db"
    leaselect.connect(f"sqlite://{path}").close()
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="access="):
        leaselect.connect(f"sqlite://{path}").close()
    if mode & 0o007 == 0:
        leaselect.connect(f"sqlite://{path}?access=group").close()
    leaselect.connect(f"sqlite://{path}?access=all").close()  # its -wake directory too, now


@pytest.mark.parametrize("mode", [0o757, 0o770, 0o701])
def test_a_wake_directory_others_could_use_is_refused_not_narrowed(
    tmp_path: Path, mode: int
) -> None:
    """Anyone it let in could have bound a socket at a waiter's address: narrowing the mode
    afterwards would not remove it (it was chmodded back to 700 silently before)."""
    path = tmp_path / "leases.db"
    leaselect.connect(f"sqlite://{path}").close()
    os.chmod(f"{path}-wake", mode)
    with pytest.raises(ConfigError, match="-wake directory has mode"):
        leaselect.connect(f"sqlite://{path}").close()
    assert stat.S_IMODE(os.stat(f"{path}-wake").st_mode) == mode
    leaselect.connect(f"sqlite://{path}?access=all").close()


def test_bad_access_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="access"):
        leaselect.connect(f"sqlite://{tmp_path}/x.db?access=everyone")


def test_another_user_cannot_freeze_the_election(name: str) -> None:
    with throwaway_user() as user, shared_dir() as directory:
        path = f"{directory}/leases.db"
        leader = Worker(f"sqlite://{path}", name, 1)
        try:
            assert leader.wait_for("elected", 10) is not None
            count = len(leader.events)
            freeze = user.run(FREEZE, path, "4.0")
            assert freeze.stdout is not None
            outcome = freeze.stdout.readline().split()
            assert leader.wait_for("lost", 4, after=count) is None, (outcome, leader.events)
            assert outcome[:1] == ["denied"], outcome
            freeze.kill()
            freeze.wait(5)
        finally:
            leader.stop()


def test_group_access_shares_one_store_between_two_users(name: str) -> None:
    with (
        throwaway_group() as group,
        throwaway_user(group) as first,
        throwaway_user(group) as second,
        throwaway_user() as outsider,
        shared_dir() as directory,
    ):
        os.chown(directory, 0, grp.getgrnam(group).gr_gid)
        os.chmod(directory, 0o2770)  # the group's directory; files inherit its group
        path = f"{directory}/leases.db"
        url = f"sqlite://{path}?access=group"
        leader = Worker(url, name, 10, prefix=as_user(first))
        elected_first = leader.wait_for("elected", 10)
        waiter = Worker(url, name, 10, prefix=as_user(second))
        try:
            assert elected_first is not None, leader.events
            assert eventually(lambda: len(waiters(path, name)) == 1, 10, step=0.02), waiter.events
            count = len(leader.events)
            leader.send("release")
            lost = leader.wait_for("lost", 5, after=count)
            elected = waiter.wait_for("elected", 5)
            assert lost is not None and elected is not None, (leader.events, waiter.events)
            assert float(elected["t"]) - float(lost["t"]) < 1.0
            assert set(_modes(path).values()) == {0o660}, _modes(path)
            intruder = outsider.run(FREEZE, path, "0")
            assert intruder.stdout is not None
            assert intruder.stdout.readline().split()[:1] == ["denied"]
            intruder.wait(5)
        finally:
            waiter.stop()
            leader.stop()
