"""Electors made from the same URL string share one backend, closed with the last of them."""

from __future__ import annotations

import os
from pathlib import Path

import leaselect


def test_electors_of_one_url_share_a_backend_closed_with_the_last(tmp_path: Path) -> None:
    url, other = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    first, second = leaselect.Elector(url, "x"), leaselect.Elector(url, "y")
    apart = leaselect.Elector(other, "x")
    backend = first.backend
    assert second.backend is backend and apart.backend is not backend
    first.close()
    assert not backend.closing
    assert second.acquire(timeout=5) is not None
    second.close()
    assert backend.closing
    third = leaselect.Elector(url, "x")
    assert third.backend is not backend and not third.backend.closing
    third.close()
    apart.close()
    assert apart.backend.closing


def test_a_shared_backend_closed_by_hand_is_not_handed_out_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    first = leaselect.Elector(url, "x")
    assert first.acquire(timeout=5) is not None
    first.backend.close()  # ends first's tenure and closes it
    assert not first.is_leader
    second = leaselect.Elector(url, "x")
    assert second.backend is not first.backend
    assert second.acquire(timeout=5) is not None
    first.close()  # gives back a backend no longer shared: the new one stays open
    assert not second.backend.closing
    second.close()


def test_a_forked_child_opens_its_own_backend(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    parent = leaselect.Elector(url, "x")
    pid = os.fork()
    if pid == 0:  # the child: a new backend, not the parent's copy
        child = leaselect.Elector(url, "y")
        os._exit(0 if child.backend is not parent.backend else 1)
    _, status = os.waitpid(pid, 0)
    parent.close()
    assert os.waitstatus_to_exitcode(status) == 0
