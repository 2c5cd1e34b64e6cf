"""``leaselect``: the console script (``run``, ``status``, ``demo``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import LeaselectError
from ..urls import redact
from .config import resolve_url

EXIT_ERROR = 2


class RedactingFormatter(logging.Formatter):
    """Timestamps every line and strips passwords from URLs in it."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--url", help="store URL (else $LEASELECT_URL, else ./.env)")
    parser = argparse.ArgumentParser(prog="leaselect", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common, store], help="run CMD only while leading NAME")
    run.add_argument("name")
    run.add_argument("--ttl", type=float, default=15.0, help="lease TTL in seconds (default 15)")
    run.add_argument("--identity", help="who we are (default host:pid:random)")
    run.add_argument("--metadata", help="a short string published with leadership")
    run.add_argument("--grace", type=float, help="SIGTERM this long before the deadline")
    run.add_argument("--once", action="store_true", help="one tenure; exit with CMD's code")
    run.add_argument("cmd", nargs="*", help="-- CMD [ARGS...] (everything after --)")
    status = sub.add_parser("status", parents=[common, store], help="show the leader of NAME")
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("demo", parents=[common], help="three local contenders, a crash, a handover")
    return parser


def _setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)])


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "demo":
        from .demo import demo

        return demo()
    url, _source = resolve_url(args.url)
    if args.command == "status":
        from .status import status

        return status(url, args.name, args.json)
    command = args.cmd
    if not command:
        parser.error("run needs a command: leaselect run NAME -- CMD [ARGS...]")
    from .run import RunOptions, run

    options = RunOptions(
        url, args.name, command, args.ttl, args.identity, args.metadata, args.grace, args.once
    )
    return run(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on configuration or store errors)."""
    parser = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    tail: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, tail = words[:cut], words[cut + 1 :]
    args = parser.parse_args(words)
    if tail:
        if args.command != "run":
            parser.error("only run takes a command after --")
        args.cmd = [*args.cmd, *tail]
    _setup_logging(args.verbose)
    try:
        return _dispatch(args, parser)
    except LeaselectError as exc:
        print(f"leaselect: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
