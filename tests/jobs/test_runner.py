"""``leader_only`` / ``LeaderOnly`` on a real store, in one process."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from leaselect import Lease
from leaselect.runner import LeaderOnly, leader_only
from tests.support.jobs import JobStore, take_lease

pytestmark = pytest.mark.timeout(60)


def fresh() -> str:
    return f"jobs-{uuid.uuid4().hex[:10]}"


def test_function_that_completes_returns_its_result_and_releases(job_store: JobStore) -> None:
    seen: list[Lease] = []

    @leader_only(job_store.url, fresh(), ttl=job_store.ttl)
    def job(lease: Lease, stop: threading.Event) -> str:
        seen.append(lease)
        return "done"

    assert job() == "done"
    assert len(seen) == 1 and seen[0].token > 0
    runner = job.runner
    assert runner.elector is not None and not runner.elector.is_leader


def test_exception_propagates_after_stepping_down(job_store: JobStore) -> None:
    runner = LeaderOnly(job_store.url, fresh(), ttl=job_store.ttl)

    def job(lease: Lease, stop: threading.Event) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        runner.run(job)


def test_loss_sets_stop_and_the_runner_campaigns_again(job_store: JobStore) -> None:
    runner = LeaderOnly(job_store.url, fresh(), ttl=job_store.ttl)
    tokens: list[int] = []
    stopped_in: list[float] = []

    def job(lease: Lease, stop: threading.Event) -> str | None:
        tokens.append(lease.token)
        if len(tokens) == 1:
            assert runner.elector is not None
            began = time.monotonic()
            runner.elector.release()  # the tenure ends here
            assert stop.wait(5), "stop was never signalled"
            stopped_in.append(time.monotonic() - began)
            return None
        return "second tenure"

    assert runner.run(job) == "second tenure"
    assert len(tokens) == 2 and tokens[1] > tokens[0]
    assert stopped_in[0] < job_store.ttl


def test_function_ignoring_stop_is_reported_and_not_run_twice(
    job_store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    runner = LeaderOnly(job_store.url, fresh(), ttl=job_store.ttl)
    running = threading.Semaphore(1)
    calls: list[int] = []

    def stubborn(lease: Lease, stop: threading.Event) -> str:
        assert running.acquire(blocking=False), "two copies ran at once"
        try:
            calls.append(lease.token)
            if len(calls) == 1:
                assert runner.elector is not None
                runner.elector.release()
                time.sleep(1.5 * job_store.ttl)  # ignores stop
                assert stop.is_set()
                return "ignored"
            return "second"
        finally:
            running.release()

    with caplog.at_level(logging.INFO, logger="leaselect"):
        assert runner.run(stubborn) == "second"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stubborn" in w and "ignored the stop signal" in w for w in warnings), warnings
    assert len(calls) == 2 and calls[1] > calls[0]


def test_stop_from_another_thread_returns_none(job_store: JobStore) -> None:
    runner = LeaderOnly(job_store.url, fresh(), ttl=job_store.ttl)
    started = threading.Event()

    def forever(lease: Lease, stop: threading.Event) -> str:
        started.set()
        stop.wait()
        return "stopped"

    def stop_once_started() -> None:
        started.wait(10)
        runner.stop()

    threading.Thread(target=stop_once_started).start()
    assert runner.run(forever) is None
    assert runner.elector is not None and not runner.elector.is_leader


def test_stop_before_run_is_remembered(job_store: JobStore) -> None:
    """A SIGTERM during start-up (stop() before run()) makes run() return None at once."""
    runner = LeaderOnly(job_store.url, fresh(), ttl=job_store.ttl)
    started: list[int] = []
    runner.stop()
    done: list[object] = []
    thread = threading.Thread(
        target=lambda: done.append(runner.run(lambda lease, stop: started.append(1)))
    )
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "run() kept running after stop()"
    assert done == [None] and not started
    assert runner.run(lambda lease, stop: "next call runs") == "next call runs"


def test_leader_only_on_a_method(job_store: JobStore) -> None:
    class Worker:
        def __init__(self) -> None:
            self.tokens: list[int] = []

        @leader_only(job_store.url, fresh(), ttl=job_store.ttl)
        def compact(self, lease: Lease, stop: threading.Event) -> str:
            self.tokens.append(lease.token)
            return f"compacted by {type(self).__name__}"

    worker = Worker()
    assert worker.compact() == "compacted by Worker"
    assert len(worker.tokens) == 1


def test_campaigns_again_right_after_a_loss_but_never_runs_two_copies(job_store: JobStore) -> None:
    """After the lease is taken the elector campaigns at once (here it leads again while the old
    copy still runs); the next copy starts only once the old one returned."""
    name = fresh()
    runner = LeaderOnly(job_store.url, name, ttl=job_store.ttl)
    led_again_while_running: list[bool] = []
    events: list[str] = []

    def job(lease: Lease, stop: threading.Event) -> str | None:
        events.append(f"start {lease.token}")
        if len(events) > 1:
            return "second"
        assert runner.elector is not None
        take_lease(job_store, name)
        assert stop.wait(5 * job_store.ttl)
        deadline = time.monotonic() + 3 * job_store.ttl
        while time.monotonic() < deadline and not led_again_while_running:
            lease_now = runner.elector.lease
            if lease_now is not None and lease_now.token > lease.token:
                led_again_while_running.append(True)
            time.sleep(0.01)
        events.append("first returned")
        return None

    assert runner.run(job) == "second"
    assert led_again_while_running, "did not campaign again until the function returned"
    assert events[1] == "first returned" and events[2].startswith("start "), events


def test_a_function_returning_at_the_loss_is_not_finished_while_leading(
    job_store: JobStore,
) -> None:
    """A function whose tenure ended before it returned ran (partly) unleased: not a result.

    A slow user callback keeps the loss notice off the callback thread: the runner must judge
    by when the function returned, not by which signal reached it first."""
    runner = LeaderOnly(
        job_store.url, fresh(), ttl=job_store.ttl, on_elected=lambda lease: time.sleep(0.5)
    )
    calls: list[int] = []

    def job(lease: Lease, stop: threading.Event) -> str:
        calls.append(lease.token)
        if len(calls) == 1:
            assert runner.elector is not None
            runner.elector.release()  # the tenure ends just before the function returns
            return "first, returned after the loss"
        return "second, inside its tenure"

    assert runner.run(job) == "second, inside its tenure"
    assert len(calls) == 2 and calls[1] > calls[0]
