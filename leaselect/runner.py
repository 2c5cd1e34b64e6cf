"""``LeaderOnly`` / ``leader_only``: run a function only while this process leads.

This module gathers them: ``LeaderOnly`` and its rules are in ``leaselect.leader_runner``, the
``leader_only`` decorator (a function or a coroutine function) in ``leaselect.leader_function``;
``AlreadyRunning`` is a ``LeaselectError``. Rules and tests: docs/jobs.md.
"""

from .errors import AlreadyRunning
from .leader_function import LeaderFunction, LeaderOnlyDecorator, leader_only
from .leader_runner import LeaderFn, LeaderOnly

__all__ = [
    "AlreadyRunning",
    "LeaderFn",
    "LeaderFunction",
    "LeaderOnly",
    "LeaderOnlyDecorator",
    "leader_only",
]
