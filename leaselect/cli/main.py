"""``leaselect``: the console script (``run``, ``status``, ``watch``, ``demo``)."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from ..errors import ConfigError, LeaselectError
from ..logfields import DefaultFields, JsonFormatter
from ..urls import redact
from .config import dotenv_credentials_allowed, resolve_url
from .text import one_line

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
QUIET_LIBRARIES = ("kazoo", "urllib3", "requests", "etcd3gw", "redis")


class RedactingFormatter(logging.Formatter):
    """Timestamps every line and hides every known credential in it."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class Parser(argparse.ArgumentParser):
    """Errors are one line, ``leaselect: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        fail(message)


_json_logs = False  # --log-format json: errors are JSON lines too


def fail(message: str) -> NoReturn:
    """Print one error line (credentials hidden, control characters escaped) and exit 2."""
    if _json_logs:
        record = logging.LogRecord("leaselect.cli", logging.ERROR, "", 0, message, None, None)
        print(JsonFormatter().format(record), file=sys.stderr)
    else:
        print(f"leaselect: error: {one_line(redact(message))}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535, got {text!r}")
    return int(text)


def grace_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    if text.strip() in ("0", "0.0"):
        return 0.0
    return seconds(text)


def _version() -> str:
    try:
        return version("leaselect")
    except PackageNotFoundError:
        return "unknown"


def _verbosity_option(dest: str) -> Parser:
    holder = Parser(add_help=False)
    holder.add_argument(
        "-v", "--verbose", action="count", default=0, dest=dest, help="log more (-vv: debug)"
    )
    return holder


def verbosity(args: argparse.Namespace) -> int:
    """``-v`` counted before and after the subcommand (two destinations: a subcommand's
    namespace would otherwise overwrite the top level's count)."""
    return int(getattr(args, "verbose", 0)) + int(getattr(args, "verbose_sub", 0))


def _parser() -> Parser:
    verbosity = _verbosity_option("verbose_sub")
    store = Parser(add_help=False)
    store.add_argument("--url", help="store URL (else $LEASELECT_URL, else a .env file)")
    store.add_argument(
        "--env-credentials",
        action="store_true",
        help="use passwords from the environment with a URL found in a .env file",
    )
    parser = Parser(prog="leaselect", parents=[_verbosity_option("verbose")])
    parser.add_argument("--version", action="version", version=f"leaselect {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run = sub.add_parser("run", parents=[verbosity, store], help="run CMD only while leading NAME")
    run.add_argument("name")
    run.add_argument("--ttl", type=seconds, default=15.0, help="lease TTL in seconds (default 15)")
    run.add_argument("--identity", help="who we are (default host:pid:random)")
    run.add_argument("--metadata", help="a short string published with leadership")
    run.add_argument("--grace", type=grace_seconds, help="SIGTERM this long before the deadline")
    run.add_argument("--once", action="store_true", help="one tenure; exit with CMD's code")
    run.add_argument(
        "--keep-credentials",
        action="store_true",
        help="pass LEASELECT_URL and store passwords on to CMD's environment",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per log line, with election, identity, token, reason, store",
    )
    run.add_argument(
        "--health-port",
        type=port_number,
        help="serve /healthz, /readyz, /leader and /metrics on this port (docs/operations.md)",
    )
    run.add_argument(
        "--health-host", default="127.0.0.1", help="address for --health-port (default 127.0.0.1)"
    )
    run.add_argument("cmd", nargs="*", help="-- CMD [ARGS...] (everything after --)")
    status = sub.add_parser("status", parents=[verbosity, store], help="show who leads NAME...")
    status.add_argument("names", nargs="+", metavar="NAME")
    status.add_argument("--json", action="store_true", help="print one JSON object per name")
    watch = sub.add_parser(
        "watch", parents=[verbosity, store], help="print every change of the leader of NAME..."
    )
    watch.add_argument("names", nargs="+", metavar="NAME")
    watch.add_argument("--json", action="store_true", help="print one JSON object per change")
    watch.add_argument("--timeout", type=seconds, help="stop after this many seconds")
    sub.add_parser("demo", parents=[verbosity], help="three local contenders, a crash, a handover")
    return parser


def _setup_logging(verbosity: int, args: argparse.Namespace) -> None:
    global _json_logs
    handler = logging.StreamHandler(sys.stderr)
    if getattr(args, "log_format", "text") == "json":
        _json_logs = True
        handler.setFormatter(JsonFormatter())
        handler.addFilter(DefaultFields(election=getattr(args, "name", None)))
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)])
    for name in QUIET_LIBRARIES:  # their retries and reconnects are ours to report
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from .demo import demo

        return demo()
    url, source = resolve_url(args.url)
    if source != "--url" and source != "$LEASELECT_URL":
        dotenv_credentials_allowed(args.env_credentials)
    if args.command == "status":
        from .status import status

        return status(url, args.names, args.json)
    if args.command == "watch":
        from .watch import watch

        return watch(url, args.names, args.json, args.timeout)
    if not args.cmd:
        raise ConfigError("run needs a command: leaselect run NAME -- CMD [ARGS...]")
    from .run import RunOptions, run

    options = RunOptions(
        url,
        args.name,
        args.cmd,
        args.ttl,
        args.identity,
        args.metadata,
        args.grace,
        args.once,
        args.keep_credentials,
        args.health_port,
        args.health_host,
    )
    return run(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on configuration or store errors, 130 on Ctrl-C)."""
    try:
        parser = _parser()
        words = list(sys.argv[1:] if argv is None else argv)
        tail: list[str] = []
        if "--" in words:
            cut = words.index("--")
            words, tail = words[:cut], words[cut + 1 :]
        args = parser.parse_args(words)
        if tail:
            if args.command != "run":
                fail("only run takes a command after --")
            args.cmd = [*args.cmd, *tail]
        _setup_logging(verbosity(args), args)
        return _dispatch(args)
    except LeaselectError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("leaselect: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
