"""The embedded store's mailbox watcher: one thread for every parked waiter of a backend.

Real sockets, a real thread and real time (a rank's head start is timed in real seconds), so
an I/O test beside the stores' tests, not a fake-clock unit test."""

from __future__ import annotations

import functools
import selectors
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from leaselect.backends.sqlite.wakes import MailboxWatcher
from leaselect.backends.sqlite.wakeup import HANDOVER_STEP, Mailbox, WakeDir, send


def wake_dir(tmp_path: Path) -> WakeDir:
    path = tmp_path / "wake"
    path.mkdir()
    return WakeDir(str(path), 0o600)


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "leaselect-sqlite-wakes"]


def test_many_mailboxes_one_thread_rank_zero_at_once_and_nothing_left(tmp_path: Path) -> None:
    directory = wake_dir(tmp_path)
    watcher = MailboxWatcher()
    boxes = [Mailbox(directory) for _ in range(50)]
    delivered: list[int] = []
    for i, box in enumerate(boxes):
        assert watcher.watch(box, functools.partial(delivered.append, i))
    assert len(watcher_threads()) == 1
    started = time.monotonic()
    send(directory.address(boxes[7].name), 0)
    while not delivered and time.monotonic() - started < 5:
        time.sleep(0.001)
    assert delivered == [7] and time.monotonic() - started < HANDOVER_STEP
    for box in boxes:
        watcher.unwatch(box)
        box.close()
    deadline = time.monotonic() + 5
    while watcher_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not watcher_threads()
    assert not list((tmp_path / "wake").iterdir())  # every socket file removed
    directory.close()


def test_a_rank_waits_its_head_start_and_a_lower_rank_cuts_it_short(tmp_path: Path) -> None:
    directory = wake_dir(tmp_path)
    watcher = MailboxWatcher()
    slow, cut = Mailbox(directory), Mailbox(directory)
    delivered: dict[str, float] = {}

    def at(name: str) -> None:
        delivered.setdefault(name, time.monotonic())

    watcher.watch(slow, functools.partial(at, "slow"))
    watcher.watch(cut, functools.partial(at, "cut"))
    sent = time.monotonic()
    send(directory.address(slow.name), 3)
    send(directory.address(cut.name), 3)
    time.sleep(HANDOVER_STEP)
    send(directory.address(cut.name), 0)  # a later release ranks it first
    deadline = time.monotonic() + 5
    while len(delivered) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert 3 * HANDOVER_STEP <= delivered["slow"] - sent < 4 * HANDOVER_STEP, delivered
    assert delivered["cut"] - sent < 2 * HANDOVER_STEP, delivered
    for box in (slow, cut):
        box.close()
    directory.close()


def test_a_mailbox_closed_while_watched_delivers_then_closes(tmp_path: Path) -> None:
    directory = wake_dir(tmp_path)
    watcher = MailboxWatcher()
    box = Mailbox(directory)
    delivered = threading.Event()
    assert watcher.watch(box, delivered.set)
    box.close()  # its last user (the watcher) closes it
    assert delivered.wait(5)
    deadline = time.monotonic() + 5
    while list((tmp_path / "wake").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not list((tmp_path / "wake").iterdir())
    assert not watcher.watch(box, delivered.set)  # closed: nothing to watch
    directory.close()


def test_a_failing_watcher_thread_sends_its_waiters_to_campaign_and_the_next_watch_starts_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Never expected, but a watcher thread that dies must not leave its waiters to their time
    limits (the holder's expiry), nor stop every later waiter from being watched."""
    directory = wake_dir(tmp_path)
    watcher = MailboxWatcher()
    failing = threading.Event()

    class Failing(selectors.DefaultSelector):
        def select(self, timeout: float | None = None) -> list[Any]:
            if failing.is_set():
                raise OSError("select failed")
            return super().select(timeout)

    monkeypatch.setattr(selectors, "DefaultSelector", Failing)
    first, second = Mailbox(directory), Mailbox(directory)
    delivered: list[str] = []
    watcher.watch(first, functools.partial(delivered.append, "first"))
    failing.set()
    watcher.watch(second, functools.partial(delivered.append, "second"))  # pokes the thread
    deadline = time.monotonic() + 5
    while len(delivered) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(delivered) == ["first", "second"]
    assert "wake-up watcher failed" in caplog.text
    failing.clear()
    again = threading.Event()
    assert watcher.watch(first, again.set)
    send(directory.address(first.name), 0)
    assert again.wait(5)
    for box in (first, second):
        box.close()
    directory.close()
