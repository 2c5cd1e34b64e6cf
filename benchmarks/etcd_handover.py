"""etcd: leaselect against the election recipe written directly on etcd3gw, same cluster, one run.

python -m benchmarks.etcd_handover [--rounds 20] [--crashes 5] [--ttl 3] [--pause LOW HIGH]
    [--grpc-python .venv-grpc/bin/python]    (the recipe on python-etcd3 too: grpc_venv.sh)
Handover = the leader's "release" line -> the next process's "elected" line (CLOCK_BOOTTIME,
shared by every process); two contender processes per implementation. Failover = SIGKILL of a
leader process at a random point of its keep-alive cycle -> the rival's "elected", as a ratio to
the TTL. Keep-alive = one renewal round trip measured in-process (leaselect: Session.keep_alive of
a leading candidacy; recipe: etcd3gw Lease.refresh). Run under flock /tmp/leaselect-bench.lock.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import leaselect
from leaselect.clock import SYSTEM_CLOCK
from leaselect.urls import parse
from tests.support.stores import STORES, configured_url

from .etcd_recipe import RecipeElection, connect
from .events import add_pause_option, handover_gaps, hold_spec, next_event

IMPLS = ("leaselect", "leaselect-callbacks", "recipe")


GRPC_WORKER = Path(__file__).with_name("etcd_grpc_worker.py")
grpc_python = ""  # --grpc-python: the interpreter of the gRPC peer's own virtualenv


def spawn(impl: str, url: str, name: str, ttl: float, *mode: str) -> subprocess.Popen[str]:
    if impl == "recipe-grpc":
        host, port = parse(url).host_list(2379)[0]
        cmd = [grpc_python, str(GRPC_WORKER), f"{host}:{port}", name, str(ttl), *mode]
    else:
        cmd = [sys.executable, "-m", "benchmarks.etcd_worker", impl, url, name, str(ttl), *mode]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def handovers(impl: str, url: str, ttl: float, rounds: int, hold: str = "0.05") -> list[float]:
    name = f"bench-{os.urandom(4).hex()}"
    procs = [spawn(impl, url, name, ttl, "rounds", hold, str(rounds)) for _ in range(2)]
    return handover_gaps(procs)


def failover(impl: str, url: str, ttl: float) -> float:
    name = f"bench-{os.urandom(4).hex()}"
    holder = spawn(impl, url, name, ttl, "hold")
    next_event(holder, "elected")
    rival = spawn(impl, url, name, ttl, "hold")
    next_event(rival, "ready")
    time.sleep(0.3 + random.uniform(0, ttl / 3))  # the rival is queued; kill at a random phase
    holder.send_signal(signal.SIGKILL)
    killed = SYSTEM_CLOCK.now()
    holder.wait()
    elected = float(next_event(rival, "elected")["t"])
    rival.kill()
    rival.wait()
    return elected - killed


def keepalive_rtt(impl: str, url: str, ttl: float, count: int = 50) -> list[float]:
    samples: list[float] = []
    if impl == "recipe-grpc":
        worker = spawn(impl, url, f"bench-{os.urandom(4).hex()}", ttl, "keepalive", str(count))
        samples = next_event(worker, "keepalive")["samples"]
        worker.wait()
        return samples
    if impl.startswith("leaselect"):
        backend = leaselect.connect(url)
        session = backend.session(ttl)
        candidacy = session.candidacy(f"bench-{os.urandom(4).hex()}", "me", "")
        assert not isinstance(candidacy.campaign(SYSTEM_CLOCK.now()), leaselect.backend.Waiting)
        for _ in range(count):
            start = SYSTEM_CLOCK.now()
            session.keep_alive([candidacy], start)
            samples.append(SYSTEM_CLOCK.now() - start)
        backend.close()
        return samples
    host, port = parse(url).host_list(2379)[0]
    election = RecipeElection(connect(host, port), f"bench-{os.urandom(4).hex()}", int(ttl))
    for _ in range(count):
        start = SYSTEM_CLOCK.now()
        election.lease.refresh()
        samples.append(SYSTEM_CLOCK.now() - start)
    election.close()
    return samples


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--url", default=configured_url(STORES["etcd"]))
    parser.add_argument(
        "--grpc-python",
        default="",
        help="also run the recipe on python-etcd3 (gRPC) with this interpreter "
        "(bash benchmarks/grpc_venv.sh makes .venv-grpc/bin/python)",
    )
    add_pause_option(parser)
    args = parser.parse_args()
    global grpc_python
    grpc_python = args.grpc_python
    impls = (*IMPLS, "recipe-grpc") if grpc_python else IMPLS
    if not args.url:
        sys.exit("no etcd URL: run python3 backends/launch.py up etcd")
    ms = 1000.0
    print(f"etcd {args.url}  ttl {args.ttl:g}s  rounds {args.rounds}  crashes {args.crashes}")
    print(
        "| impl | handover median | handover p95 | failover/TTL median | failover/TTL p95 "
        "| keep-alive median | keep-alive p95 |"
    )
    print("|---|---|---|---|---|---|---|")
    for impl in impls:
        hand = handovers(impl, args.url, args.ttl, args.rounds, hold_spec(args.pause))
        fail = [failover(impl, args.url, args.ttl) / args.ttl for _ in range(args.crashes)]
        keep = keepalive_rtt(impl, args.url, args.ttl)
        failed = (
            f"{statistics.median(fail):.3f} | {p95(fail):.3f} (max {max(fail):.3f})"
            if fail
            else "- | -"
        )
        print(
            f"| {impl} | {statistics.median(hand) * ms:.1f} ms | {p95(hand) * ms:.1f} ms "
            f"| {failed} "
            f"| {statistics.median(keep) * ms:.2f} ms | {p95(keep) * ms:.2f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
