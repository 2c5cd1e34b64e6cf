"""What ``LeaderScheduler`` keeps of each job: its store mark (the last fire time admitted),
the ``id=`` and no-``jitter`` rules of ``add_job``, and the running job's context."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

from ..errors import ConfigError, NotLeader
from ._tenure import CURRENT, JobContext

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def current_job() -> JobContext:
    """The context of the job running in this thread or task; ``NotLeader`` outside one."""
    context = CURRENT.get()
    if context is None:
        raise NotLeader("not inside a job run by a LeaderScheduler")
    return context


def mark_of(job_id: str) -> str:
    """The store mark that holds the last fire time admitted for ``job_id``."""
    if _PLAIN_ID.fullmatch(job_id):
        return f"job.{job_id}"
    return f"job-sha256.{sha256(job_id.encode()).hexdigest()[:40]}"


def micros(fire_time: datetime) -> int:
    """A fire time as integer microseconds since the epoch (exact, clock-independent)."""
    return (fire_time - _EPOCH) // _ONE_MICROSECOND


def checked_add_job(add_job: Callable[..., Any]) -> Callable[..., Any]:
    """``add_job`` refusing jobs without an explicit ``id`` or with ``jitter`` (ConfigError).

    A job's store mark is keyed by its id, and APScheduler gives a job without one a random id
    in each process: each process would keep its own mark, and a fire time could run twice
    across a handover. ``jitter`` makes each process draw its own fire times, so one period
    could run at two different fire times, both above the mark.
    """
    signature = inspect.signature(add_job)

    @functools.wraps(add_job)
    def checked(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs).arguments
        func = bound.get("func")
        label = func if isinstance(func, str) else getattr(func, "__qualname__", repr(func))
        if bound.get("id") is None:
            raise ConfigError(
                f"job {label!r} needs an explicit id= under LeaderScheduler (the store keeps "
                "its last admitted fire time under that id, identical in every process)"
            )
        trigger_args = bound.get("trigger_args", {})
        if trigger_args.get("jitter") or getattr(bound.get("trigger"), "jitter", None):
            raise ConfigError(
                f"job {label!r}: jitter is not supported under LeaderScheduler (each process "
                "would draw its own fire times, and a period could run twice across a handover)"
            )
        return add_job(*args, **kwargs)

    return checked
