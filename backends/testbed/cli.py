"""The command line of ``python3 backends/launch.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import control
from .errors import BackendError
from .health import DEFAULT_TIMEOUT, leader_of, member_role
from .redis import PERSISTENCE
from .topology import MEMBERS, STORES, check_stores, members_of
from .urls import env_file, store_env


def _print_status(report: Sequence[control.MemberStatus]) -> None:
    print(f"{'MEMBER':<13} {'STATE':<8} {'PID':>8} {'PORT':>6}  ROLE")
    for entry in report:
        pid = str(entry.pid) if entry.pid else "-"
        print(f"{entry.name:<13} {entry.state:<8} {pid:>8} {entry.port:>6}  {entry.role or '-'}")


def _cmd_up(args: argparse.Namespace) -> int:
    control.up(args.stores, timeout=args.timeout)
    for store in check_stores(args.stores):
        leader = leader_of(store)
        print(f"{store}: healthy" + (f", leader {leader}" if store != "redis" else ""))
    print(f"wrote {env_file()}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = control.down(args.stores, wipe=args.wipe)
    print(f"stopped: {' '.join(stopped) or 'nothing was running'}")
    if args.wipe:
        wiped = [m.name for m in members_of(check_stores(args.stores))]
        print(f"wiped the data and logs of: {' '.join(wiped)}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    _print_status(control.status(args.stores))
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    urls = store_env(args.stores)
    for key, value in urls.items():
        print(f"{key}={value}")
    if urls:  # so that `launch.py env > .env` is a file the leaselect CLI uses as it is
        print(f"LEASELECT_URL={next(iter(urls.values()))}")
    return 0


def _cmd_leader(args: argparse.Namespace) -> int:
    leader = leader_of(args.store)
    if leader is None:
        print(f"{args.store}: no leader", file=sys.stderr)
        return 1
    print(leader)
    return 0


def _cmd_member(args: argparse.Namespace) -> int:
    verb: str = args.verb
    name: str = args.member
    if verb == "start":
        pid = control.start_member(name, timeout=args.timeout, redis_persistence=args.persistence)
        print(f"{name}: running, pid {pid}, {member_role(name) or '?'}")
    elif verb in ("stop", "kill"):
        was_running = (control.stop_member if verb == "stop" else control.kill_member)(name)
        print(f"{name}: {'stopped' if was_running else 'was not running'}")
    else:
        pid = (control.pause_member if verb == "pause" else control.resume_member)(name)
        print(f"{name}: {'paused' if verb == 'pause' else 'resumed'}, pid {pid}")
    return 0


def _add_store_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, handler, helptext in (
        ("up", _cmd_up, "start the stores (default all) and wait until healthy"),
        ("down", _cmd_down, "stop the stores' servers started by this launcher"),
        ("status", _cmd_status, "show each member: state, pid, port, role"),
        ("env", _cmd_env, "print the LEASELECT_TEST_*_URL lines"),
    ):
        sub = verbs.add_parser(verb, help=helptext)
        sub.add_argument("stores", nargs="*", metavar="STORE", help=" | ".join(STORES))
        sub.set_defaults(handler=handler)
        if verb == "up":
            sub.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
        if verb == "down":
            sub.add_argument("--wipe", action="store_true", help="also delete data and logs")


def _add_member_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, helptext in (
        ("start", "start one member and wait until it is healthy"),
        ("stop", "SIGTERM one member (SIGKILL after a few seconds)"),
        ("kill", "SIGKILL one member"),
        ("pause", "SIGSTOP one member"),
        ("resume", "SIGCONT one member"),
    ):
        sub = verbs.add_parser(verb, help=helptext)
        sub.add_argument("member", metavar="MEMBER", help=" | ".join(MEMBERS))
        sub.set_defaults(handler=_cmd_member)
        if verb == "start":
            sub.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
            sub.add_argument(
                "--persistence", choices=PERSISTENCE, default="everysec", help="redis only"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="Run leaselect's test servers (Redis, etcd, ZooKeeper) on 127.0.0.1.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    _add_store_verbs(verbs)
    _add_member_verbs(verbs)
    sub = verbs.add_parser("leader", help="print the member that leads the store")
    sub.add_argument("store", metavar="STORE", choices=STORES)
    sub.set_defaults(handler=_cmd_leader)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BackendError as error:
        print(f"launch.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
