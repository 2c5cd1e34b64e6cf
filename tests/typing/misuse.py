"""A user's file that misuses the typed API: every line marked ``# error`` must fail
``mypy --strict`` (checked by tests/typing/test_typed_api.py); the rest must pass."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from leaselect import AsyncElector, Elector, LeaderOnly, Lease, leader_only
from leaselect.integrations.apscheduler import LeaderScheduler

URL = "sqlite:///leases.db"

Elector(URL, "job", tll=3)  # error
AsyncElector(URL, "job", tll=3)  # error
LeaderOnly(URL, "job", tll=3)  # error
leader_only(URL, "job", tll=3)  # error
LeaderOnly(URL, "job", ttl="3")  # error
AsyncElector(URL, "job", identity=7)  # error
leader_only(URL, "job", stop_grace=None)  # error
LeaderScheduler(BackgroundScheduler(), URL, "job", tll=3)  # error


def on_elected(lease: Lease) -> None:
    print(lease.token)


Elector(URL, "job", ttl=3, on_elected=on_elected)
AsyncElector(URL, "job", ttl=3, identity="me", on_elected=on_elected)
LeaderOnly(URL, "job", ttl=3, stop_grace=0.5, on_elected=on_elected)
leader_only(URL, "job", ttl=3, metadata="m", release_on_exit=False)
LeaderScheduler(BackgroundScheduler(), URL, "job", ttl=3, on_jeopardy=on_elected)
