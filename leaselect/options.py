"""The keyword options the wrappers (``AsyncElector``, ``LeaderOnly``, ``leader_only``,
``LeaderScheduler``) pass on to ``Elector``, typed once: ``**options: Unpack[ElectorOptions]``
lets mypy reject a misspelt or mistyped option (``tll=3``) as it does on ``Elector`` itself."""

from __future__ import annotations

from typing import TypedDict

from .callbacks import OnElected, OnJeopardy, OnLost, OnNewLeader
from .clock import Clock


class ElectorOptions(TypedDict, total=False):
    """``Elector``'s options beside its callbacks (defaults as in ``Elector``)."""

    ttl: float
    identity: str | None
    metadata: str | None
    renew_interval: float | None
    margin: float | None
    drift: float
    release_on_exit: bool


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
