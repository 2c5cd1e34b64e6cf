"""Which watch events end a predecessor wait, and when the hand-over may skip its read: the
predecessor's DELETE counts only if the waiter's own key (watched in the same range, so in
revision order) was not deleted before or with it; deletes of keys in between are skipped."""

from __future__ import annotations

import json
from typing import Any

from leaselect.backends.etcd.transport import b64
from leaselect.backends.etcd.watch import _read_until_delete
from leaselect.clock import SYSTEM_CLOCK

PRED, OWN, OTHER = "/e/x/1-a", "/e/x/3-c", "/e/x/2-b"


class Stream:
    def __init__(self, *messages: dict[str, Any]) -> None:
        self.lines = [json.dumps(m).encode() for m in messages]

    def iter_lines(self) -> list[bytes]:
        return self.lines


def deleted(key: str, revision: int) -> dict[str, Any]:
    return {"type": "DELETE", "kv": {"key": b64(key), "mod_revision": str(revision)}}


def message(*events: dict[str, Any]) -> dict[str, Any]:
    return {"result": {"header": {"revision": "9"}, "events": list(events)}}


def read(*messages: dict[str, Any], own: str = OWN) -> int | None:
    stream: Any = Stream(*messages)
    return _read_until_delete(stream, PRED, own, SYSTEM_CLOCK.now() + 60, SYSTEM_CLOCK)


def test_the_predecessors_delete_with_the_own_key_intact_gives_its_revision() -> None:
    assert read(message(deleted(PRED, 7))) == 7


def test_deletes_of_keys_in_between_are_skipped() -> None:
    assert read(message(deleted(OTHER, 5)), message(deleted(PRED, 7))) == 7


def test_the_own_key_deleted_first_or_with_it_ends_the_wait_without_a_revision() -> None:
    assert read(message(deleted(OWN, 5)), message(deleted(PRED, 7))) is None
    assert read(message(deleted(PRED, 7), deleted(OWN, 7))) is None
    assert read(message(deleted(OWN, 7), deleted(PRED, 7))) is None


def test_without_the_own_key_any_event_ends_the_wait() -> None:
    assert read(message(deleted(OTHER, 5)), message(deleted(PRED, 7)), own="") is None
    assert read(message(deleted(PRED, 7)), own="") == 7


def test_a_cancelled_watch_or_an_error_ends_it_without_a_revision() -> None:
    assert read({"result": {"canceled": True, "compact_revision": "3"}}) is None
    assert read({"error": {"message": "etcdserver: no leader"}}) is None
