"""Structured log records: the fields an elector's records carry, and the JSON formatter."""

from __future__ import annotations

import json
import logging

import pytest

from leaselect import Elector
from leaselect.logfields import FIELDS, DefaultFields, JsonFormatter
from leaselect.testing import FakeClock
from leaselect.urls import parse
from tests.unit.driving import TTL
from tests.unit.scripted import ScriptedBackend


def test_an_electors_records_carry_election_identity_store_token_and_reason(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    elector = Elector(backend, "job", ttl=TTL, clock=clock, identity="me")
    try:
        with caplog.at_level(logging.INFO, logger="leaselect"):
            lease = elector.acquire(timeout=1)
            assert lease is not None
            elector.release()
    finally:
        elector.close()
    elected = next(r for r in caplog.records if r.getMessage().startswith("elected"))
    lost = next(r for r in caplog.records if r.getMessage().startswith("lost"))
    for record in (elected, lost):
        assert (record.election, record.identity, record.store) == ("job", "me", "scripted")  # type: ignore[attr-defined]
        assert record.token == lease.token  # type: ignore[attr-defined]
    assert lost.reason == "released"  # type: ignore[attr-defined]


def test_a_raising_callback_is_logged_with_its_election(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(lease: object) -> None:
        raise RuntimeError("bug")

    elector = Elector(backend, "job", ttl=TTL, clock=clock, identity="me", on_elected=broken)
    try:
        with caplog.at_level(logging.ERROR, logger="leaselect"):
            assert elector.acquire(timeout=1) is not None
            elector.release()
    finally:
        elector.close()
    raised = next(r for r in caplog.records if "raised" in r.getMessage())
    assert (raised.election, raised.identity) == ("job", "me")  # type: ignore[attr-defined]


def test_the_json_formatter_prints_every_field_and_no_credential() -> None:
    url = "redis://user:pw-in-json@db.example:6379/0"
    parse(url)  # as connect() does: the secret is known from now on
    record = logging.LogRecord(
        "leaselect", logging.WARNING, __file__, 1, "cannot reach %s", (url,), None
    )
    record.election, record.token, record.reason = "job", 7, "taken"
    DefaultFields(election="other", identity="host:1").filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "leaselect"
    assert (line["election"], line["identity"], line["token"], line["reason"]) == (
        "job",
        "host:1",
        7,
        "taken",
    )
    assert "pw-in-json" not in json.dumps(line) and "db.example" in line["message"]
    assert line["time"].endswith("Z") and set(FIELDS) - set(line) == {"store"}
