"""Prometheus metrics for every elector of the process (needs ``leaselect[prometheus]``).

``instrument(registry=None)`` registers one collector. Counters and the renew round-trip
histogram are fed by ``leaselect.events`` (off the electors' threads); the gauges are read from
the open electors at each scrape, so ``leaselect_lease_remaining_seconds`` is exact at scrape
time. Series carry ``election``, ``identity`` and ``store`` (the URL scheme), except the
round-trip histogram, labelled by ``store`` only: one keep-alive round renews every lease of a
backend, so per-election histograms would repeat the same figures, 13 series per election.
Counters of a closed elector stay (Prometheus counters must not vanish while the process
lives): a process that makes electors with ever new identities or names grows its series with
them, so give long-lived processes stable identities (docs/operations.md).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .. import events
from ..elector import open_electors

log = logging.getLogger("leaselect")

LABELS = ("election", "identity", "store")
ROUND_TRIP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
Key = tuple[str, str, str]


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(ROUND_TRIP_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, b in enumerate(ROUND_TRIP_BUCKETS) if value <= b), -1)
        self.counts[index] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, []
        for bound, count in zip((*map(str, ROUND_TRIP_BUCKETS), "+Inf"), self.counts, strict=True):
            cumulative += count
            out.append((bound, float(cumulative)))
        return out


def _transition(event: events.Event) -> tuple[str, str] | None:
    """The (transition, reason) labels of a tenure's event; None for other events."""
    if isinstance(event, events.Lost):
        return ("lost", event.reason.value)
    kinds = {events.Elected: "elected", events.Jeopardy: "jeopardy", events.Recovered: "recovered"}
    kind = kinds.get(type(event))
    return None if kind is None else (kind, "")


class ElectorCollector(Collector):
    """The collector ``instrument`` registers; ``listen`` is its event listener."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transitions: dict[tuple[str, ...], int] = defaultdict(int)
        self._renew_failures: dict[Key, int] = defaultdict(int)
        self._campaign_failures: dict[Key, int] = defaultdict(int)
        self._round_trips: dict[str, _Histogram] = defaultdict(_Histogram)  # by store
        self._clashes: set[Key] = set()

    def listen(self, event: events.Event) -> None:
        key = (event.election, event.identity, event.store)
        transition = _transition(event)
        with self._lock:
            if transition is not None:
                self._transitions[key + transition] += 1
            elif isinstance(event, events.Renewed):
                self._round_trips[event.store].observe(event.round_trip)
            elif isinstance(event, events.RenewFailed):
                self._renew_failures[key] += 1
            elif isinstance(event, events.CampaignFailed):
                self._campaign_failures[key] += 1

    def _report_clash(self, key: Key) -> None:
        """Two open electors with the same labels: one series each would be a duplicate."""
        if key not in self._clashes:
            self._clashes.add(key)
            log.warning(
                "leaselect metrics: two open electors of election %r share identity %r on "
                "store %s: only the first is exported; give them distinct identities",
                *key,
            )

    def describe(self) -> Iterable[Metric]:
        return list(self._families(with_samples=False))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(with_samples=True))

    def _families(self, with_samples: bool) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            "leaselect_is_leader",
            "1 while this elector leads (before its local deadline)",
            labels=LABELS,
        )
        jeopardy = GaugeMetricFamily(
            "leaselect_in_jeopardy", "1 while leading with renewals failing", labels=LABELS
        )
        remaining = GaugeMetricFamily(
            "leaselect_lease_remaining_seconds",
            "Seconds until the local deadline of the current lease (0 when not leading)",
            labels=LABELS,
        )
        token = GaugeMetricFamily(
            "leaselect_token",
            "Fencing token of this elector's latest tenure (0: none yet)",
            labels=LABELS,
        )
        transitions = CounterMetricFamily(
            "leaselect_transitions",
            "Tenure transitions: elected, jeopardy, recovered, lost (with its reason)",
            labels=(*LABELS, "transition", "reason"),
        )
        renew_failures = CounterMetricFamily(
            "leaselect_renew_failures",
            "Renewals that could not reach the store while leading",
            labels=LABELS,
        )
        campaign_failures = CounterMetricFamily(
            "leaselect_campaign_failures",
            "Campaign attempts that failed (then retried)",
            labels=LABELS,
        )
        round_trip = HistogramMetricFamily(
            "leaselect_renew_round_trip_seconds",
            "Round trip of each successful renewal while leading (one per lease renewed)",
            labels=("store",),
        )
        if with_samples:
            seen: set[tuple[str, str, str]] = set()
            for elector in open_electors():
                key = (elector.name, elector.identity, type(elector.backend).scheme)
                if key in seen:
                    self._report_clash(key)
                    continue
                seen.add(key)
                labels = list(key)
                leads = elector.is_leader
                leader.add_metric(labels, float(leads))
                jeopardy.add_metric(labels, float(leads and elector.in_jeopardy))
                remaining.add_metric(labels, elector.remaining())
                token.add_metric(labels, float(elector._machine.highest_token or 0))
            with self._lock:
                for labelled, count in self._transitions.items():
                    transitions.add_metric(list(labelled), float(count))
                for key, count in self._renew_failures.items():
                    renew_failures.add_metric(list(key), float(count))
                for key, count in self._campaign_failures.items():
                    campaign_failures.add_metric(list(key), float(count))
                for store, histogram in self._round_trips.items():
                    round_trip.add_metric([store], histogram.buckets(), histogram.total)
        yield from (leader, jeopardy, remaining, token, transitions)
        yield from (renew_failures, campaign_failures, round_trip)


class Instrumentation:
    """What ``instrument`` set up; ``close()`` unregisters it and ends its listener thread."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.collector = ElectorCollector()
        registry.register(self.collector)
        self.subscription = events.subscribe(self.collector.listen)
        self._closed = False

    def close(self) -> None:
        """Unregister and end the listener thread (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        self.subscription.close()
        self.registry.unregister(self.collector)


def instrument(registry: CollectorRegistry | None = None) -> Instrumentation:
    """Export every elector's metrics to ``registry`` (default: prometheus_client's global one).

    Raises ``ValueError`` naming the clash if the registry already has leaselect's metrics.
    """
    target = REGISTRY if registry is None else registry
    if not isinstance(target, CollectorRegistry):
        raise TypeError(
            f"registry must be a prometheus_client CollectorRegistry, got {type(target).__name__}"
        )
    try:
        return Instrumentation(target)
    except ValueError as exc:
        raise ValueError(
            f"leaselect metrics are registered in this registry already: {exc}"
        ) from None
