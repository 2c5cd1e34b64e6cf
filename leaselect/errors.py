"""The errors leaselect raises; store-specific failures are mapped to these at the adapter."""

from __future__ import annotations


class LeaselectError(Exception):
    """Base class of every leaselect error."""


class ConfigError(LeaselectError, ValueError):
    """A bad URL, election name, TTL or option; the message names the rule broken."""


class BackendUnavailable(LeaselectError):
    """The store could not be reached or did not answer in time."""


class LeaseLost(LeaselectError):
    """The lease ended (expired, released or taken) while the caller relied on it."""


class NotLeader(LeaselectError):
    """An operation that needs leadership was called by a process that does not lead."""


class ElectionTimeout(LeaselectError, TimeoutError):
    """Leadership was not won within the caller's timeout."""


class AlreadyRunning(LeaselectError):
    """A leader-only runner (``LeaderOnly``, a ``leader_only`` function, an ``AsyncElector``
    block) was entered while another call of the same one is running."""
