"""The keyword options the wrappers (``AsyncElector``, ``LeaderOnly``, ``leader_only``) pass
on to ``Elector``, typed once: ``**options: Unpack[ElectorOptions]`` lets mypy reject a
misspelt or mistyped option (``tll=3``) as it does on ``Elector`` itself."""

from __future__ import annotations

from typing import TypedDict

from .clock import Clock
from .elector import OnElected, OnLost, OnNewLeader


class ElectorOptions(TypedDict, total=False):
    """``Elector``'s options beside its callbacks (defaults as in ``Elector``)."""

    ttl: float
    identity: str | None
    metadata: str | None
    renew_interval: float | None
    margin: float | None
    drift: float
    release_on_exit: bool


class RunnerOptions(ElectorOptions, total=False):
    """``LeaderOnly``'s options beside ``stop_grace``: ``Elector``'s, callbacks and clock."""

    clock: Clock | None
    on_elected: OnElected | None
    on_lost: OnLost | None
    on_jeopardy: OnElected | None
    on_new_leader: OnNewLeader | None


class LeaderOptions(RunnerOptions, total=False):
    """``leader_only``'s options: ``LeaderOnly``'s."""

    stop_grace: float
