"""Prometheus metrics on the embedded store: a scrape parsed as Prometheus parses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from leaselect import Elector, connect
from leaselect.metrics.prometheus import Instrumentation, instrument

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def instrumented() -> Iterator[Instrumentation]:
    metrics = instrument(CollectorRegistry())
    yield metrics
    metrics.close()


def scrape(metrics: Instrumentation) -> Samples:
    metrics.subscription.flush(timeout=2)
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_a_scrape_shows_who_leads_its_deadline_token_and_transitions(
    tmp_path: Path, instrumented: Instrumentation
) -> None:
    backend = connect(f"sqlite:///{tmp_path}/leases.db")
    leader = Elector(backend, "jobs", ttl=2, identity="a")
    follower = Elector(backend, "jobs", ttl=2, identity="b")
    try:
        lease = leader.acquire(timeout=5)
        assert lease is not None
        follower.start()
        time.sleep(1.0)  # two renewals
        samples = scrape(instrumented)
        a = {"election": "jobs", "identity": "a", "store": "sqlite"}
        b = {**a, "identity": "b"}
        assert value(samples, "leaselect_is_leader", **a) == 1.0
        assert value(samples, "leaselect_is_leader", **b) == 0.0
        assert value(samples, "leaselect_in_jeopardy", **a) == 0.0
        remaining = value(samples, "leaselect_lease_remaining_seconds", **a)
        assert remaining is not None and 0 < remaining <= 2
        assert value(samples, "leaselect_lease_remaining_seconds", **b) == 0.0
        assert value(samples, "leaselect_token", **a) == lease.token
        elected = value(
            samples, "leaselect_transitions_total", **a, transition="elected", reason=""
        )
        assert elected == 1.0
        renewals = value(samples, "leaselect_renew_round_trip_seconds_count", store="sqlite")
        assert renewals is not None and renewals >= 1
        assert value(
            samples, "leaselect_renew_round_trip_seconds_bucket", store="sqlite", le="+Inf"
        ) == (renewals)
        leader.release()
        deadline = time.monotonic() + 5
        while not follower.is_leader and time.monotonic() < deadline:
            time.sleep(0.01)
        samples = scrape(instrumented)
        lost = value(
            samples, "leaselect_transitions_total", **a, transition="lost", reason="released"
        )
        assert lost == 1.0
        assert value(samples, "leaselect_is_leader", **a) == 0.0
        assert value(samples, "leaselect_is_leader", **b) == 1.0
        successor = follower.lease
        assert successor is not None and successor.token > lease.token
        assert value(samples, "leaselect_token", **b) == successor.token
    finally:
        leader.close()
        follower.close()
        backend.close()
    samples = scrape(instrumented)
    assert value(samples, "leaselect_is_leader", **a) is None  # closed: no gauge left
    assert value(samples, "leaselect_transitions_total", **a, transition="elected", reason="")


def test_instrumenting_a_registry_twice_names_the_clash(instrumented: Instrumentation) -> None:
    with pytest.raises(ValueError, match="registered in this registry already"):
        instrument(instrumented.registry)
    with pytest.raises(TypeError, match="registry must be"):
        instrument("default")  # type: ignore[arg-type]


def test_close_unregisters_and_ends_the_listener_thread() -> None:
    import threading

    registry = CollectorRegistry()
    metrics = instrument(registry)
    metrics.close()
    assert "leaselect_is_leader" not in generate_latest(registry).decode()
    assert not [t for t in threading.enumerate() if t.name == "leaselect-events"]
    instrument(registry).close()  # registrable again


def test_two_electors_with_the_same_labels_export_one_series_and_a_warning(
    tmp_path: Path, instrumented: Instrumentation, caplog: pytest.LogCaptureFixture
) -> None:
    first = Elector(f"sqlite:///{tmp_path}/a.db", "job", ttl=2, identity="web-1")
    second = Elector(f"sqlite:///{tmp_path}/b.db", "job", ttl=2, identity="web-1")
    try:
        assert first.acquire(timeout=5) is not None and second.acquire(timeout=5) is not None
        text = generate_latest(instrumented.registry).decode()
        leader_lines = [
            line for line in text.splitlines() if line.startswith("leaselect_is_leader{")
        ]
        assert len(leader_lines) == 1
        assert any("distinct identities" in r.getMessage() for r in caplog.records)
    finally:
        first.close()
        second.close()
    instrumented.close()
    instrumented.close()  # a second close does nothing
