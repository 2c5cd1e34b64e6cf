"""One store's fault plan: start contenders, inject every applicable fault, check the logs."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from . import liveness, nemesis
from .checker import Report, check
from .cluster import Cluster
from .nemesis import Fault, Nemesis
from .netns import Net

PROCESS_FAULTS: list[Nemesis] = [nemesis.kill_leader, nemesis.pause_long, nemesis.pause_short]
NETWORK_FAULTS: list[Nemesis] = [nemesis.cut_long, nemesis.cut_short, nemesis.slow_store]
NOT_NETWORKED = ["cut > TTL", "cut < TTL", "slow store", "store member / restart faults"]
CALLBACK_MODES = ("raise", "exit", "api", "block")  # one per contender, in turn


def plan(store: str) -> tuple[list[Nemesis], list[str]]:
    """The applicable nemeses of ``store`` (one round) and the kinds that do not apply."""
    if store == "sqlite":
        return [*PROCESS_FAULTS, nemesis.db_file_replaced], list(NOT_NETWORKED)
    from .store_faults import STORE_NEMESES  # imports backends.testbed

    return PROCESS_FAULTS + NETWORK_FAULTS + STORE_NEMESES[store], []


def run_phase(
    store: str,
    url: str,
    ttl: float,
    run_dir: Path,
    nemeses: list[Nemesis],
    block_lost: float = 0.0,
    log: Callable[[str], None] = print,
    net: Net | None = None,
    callbacks: tuple[str, ...] = (),
    probe: bool = True,
    before: Callable[[Cluster], None] | None = None,
) -> Report:
    """Start 3 contenders, inject ``nemeses`` one after another, probe liveness, stop, check.

    ``callbacks``: how each contender's callbacks misbehave (cycled); ``before``: runs after
    the contenders started and before a leader is awaited (a store down at start).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(
        url, f"faults-{secrets.token_hex(4)}", ttl, run_dir, net=net, callbacks=callbacks
    )
    faults: list[Fault] = []
    stalled: list[str] = []
    cluster.start(block_lost)
    try:
        if before is not None:
            before(cluster)
        if cluster.await_leader(ttl + 10) is None:
            raise RuntimeError(f"{store}: no leader within {ttl + 10} s; see {run_dir}/*.stderr")
        for inject in nemeses:
            fault = inject(cluster)
            if fault is None:
                log(f"{store}: {inject.__name__}: no leader to target")
                continue
            log(f"{store}: {fault.kind} on {fault.target} for {fault.end - fault.start:.2f} s")
            faults.append(fault)
        if probe:
            probed, stalled = liveness.probe(cluster)
            faults += probed
            for line in stalled:
                log(f"{store}: LIVENESS: {line}")
    finally:
        cluster.stop()
        (run_dir / "faults.json").write_text(json.dumps([vars(f) for f in faults], indent=1))
    time.sleep(0.2)
    report = check(store, cluster.events(), cluster.deaths, faults, cluster.fence, ttl)
    report.stalled = stalled
    return report


def run_store(
    store: str,
    url: str,
    ttl: float,
    rounds: int,
    run_dir: Path,
    log: Callable[[str], None] = print,
    net: Net | None = None,
) -> Report:
    """Every applicable fault ``rounds`` times, then ``rounds`` blocking-on_lost faults, then
    misbehaving callbacks and (networked stores) the store down when the contenders start."""
    one_round, not_applicable = plan(store)
    if store != "sqlite":
        from backends.testbed import control

        control.up([store])
    # Data loss last: afterwards the counter restarts below the fence's newest token.
    nemeses = sorted(one_round * rounds, key=lambda n: n.__name__.endswith(("_off", "replaced")))
    phases = [run_phase(store, url, ttl, run_dir / "main", nemeses, log=log, net=net)]
    phases.append(
        run_phase(
            store,
            url,
            ttl,
            run_dir / "blocking",
            [nemesis.blocking_lost] * rounds,
            block_lost=2 * ttl,
            log=log,
        )
    )
    process: list[Nemesis] = [nemesis.kill_leader, nemesis.pause_long] * max(1, rounds // 2)
    phases.append(
        run_phase(
            store, url, ttl, run_dir / "callbacks", process, log=log, callbacks=CALLBACK_MODES
        )
    )
    if store != "sqlite":
        from .store_faults import restore, store_down_at_start

        phases.append(
            run_phase(
                store,
                url,
                ttl,
                run_dir / "down-at-start",
                [],
                log=log,
                before=store_down_at_start(store),
            )
        )
        if store == "redis":
            from .eviction import run_eviction

            phases.append(run_eviction(url, ttl, run_dir / "eviction", log=log))
        restore(store)()
    report = phases[0]
    for phase in phases[1:]:
        report = merge(report, phase)
    report.not_applicable = not_applicable
    return report


def merge(a: Report, b: Report) -> Report:
    """Two phases of one store as one report."""
    out = Report(a.store)
    for name, value in vars(a).items():
        other = getattr(b, name)
        if isinstance(value, (list, int, float)) and name != "store":
            setattr(out, name, value + other)
    return out
