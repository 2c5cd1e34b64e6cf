"""The keyword options the wrappers (``AsyncElector``, ``LeaderOnly``, ``leader_only``,
``LeaderScheduler``) pass on to ``Elector``, typed once: ``**options: Unpack[ElectorOptions]``
lets mypy reject a misspelt or mistyped option (``tll=3``) as it does on ``Elector`` itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypedDict

from .callbacks import OnElected, OnJeopardy, OnLost, OnNewLeader
from .clock import Clock
from .errors import ConfigError
from .timing import DEFAULT_DRIFT, DEFAULT_TTL, Timing, timing_of


class ElectorOptions(TypedDict, total=False):
    """``Elector``'s options beside its callbacks (defaults as in ``Elector``)."""

    ttl: float
    identity: str | None
    metadata: str | None
    renew_interval: float | None
    margin: float | None
    drift: float
    release_on_exit: bool
    timing: Timing | None


class CallbackOptions(TypedDict, total=False):
    """``Elector``'s callbacks (see ``leaselect.callbacks``)."""

    on_elected: OnElected | None
    on_lost: OnLost | None
    on_jeopardy: OnJeopardy | None
    on_new_leader: OnNewLeader | None


class ElectorKeywords(ElectorOptions, CallbackOptions, total=False):
    """What ``LeaderScheduler`` passes on to ``Elector``: its options and callbacks."""


class RunnerOptions(ElectorKeywords, total=False):
    """``LeaderOnly``'s options beside ``stop_grace``: ``Elector``'s, callbacks and clock."""

    clock: Clock | None


class LeaderOptions(RunnerOptions, total=False):
    """``leader_only``'s options: ``LeaderOnly``'s."""

    stop_grace: float


def with_stop_grace(options: Mapping[str, Any], stop_grace: float) -> dict[str, Any]:
    """``options`` with the timing settings folded into one ``Timing`` that carries
    ``stop_grace`` (so ``Timing`` checks it against the TTL: the one rule)."""
    rest = dict(options)
    given = rest.pop("timing", None)
    timing = timing_of(
        given,
        rest.pop("ttl", DEFAULT_TTL),
        rest.pop("renew_interval", None),
        rest.pop("drift", DEFAULT_DRIFT),
        rest.pop("margin", None),
    )
    if stop_grace:
        if given is not None and timing.stop_grace:
            raise ConfigError("pass either stop_grace or timing.stop_grace, not both")
        timing = dataclasses.replace(timing, stop_grace=stop_grace)
    rest["timing"] = timing
    return rest
