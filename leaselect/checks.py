"""Argument checks of the public API: a ``ConfigError`` naming the parameter, never a traceback
from deep inside and never a silent default."""

from __future__ import annotations

import math
import numbers

from .backend import Backend
from .errors import ConfigError, LeaselectError


def check_timeout(timeout: object) -> float | None:
    """``acquire``'s timeout: None or inf (wait for ever), else a non-negative finite number."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise ConfigError(f"timeout must be None or a number of seconds, got {timeout!r}")
    try:
        seconds = float(timeout)
    except OverflowError:  # an int beyond float's range
        seconds = math.inf if timeout > 0 else -math.inf  # type: ignore[operator]
    if math.isnan(seconds) or seconds < 0:
        raise ConfigError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    return None if math.isinf(seconds) else seconds


def check_callback(name: str, callback: object) -> None:
    """``on_elected``/``on_lost``/``on_jeopardy``: callable or None."""
    if callback is not None and not callable(callback):
        raise ConfigError(f"{name} must be callable or None, got {callback!r}")


def check_backend(backend_or_url: object) -> None:
    """``Elector``'s first argument: a store URL string or a ``Backend`` not closed."""
    if not isinstance(backend_or_url, (str, Backend)):
        kind = type(backend_or_url).__name__
        raise ConfigError(f"Elector needs a Backend or a store URL string, got {kind}")
    if isinstance(backend_or_url, Backend) and backend_or_url.closing:
        raise LeaselectError(f"backend is closed: {type(backend_or_url).__name__}")


def check_clock(clock: object) -> None:
    """An object with callable ``now()`` and ``wait(event, timeout)`` (see ``leaselect.Clock``)."""
    if clock is None:
        return
    if not all(callable(getattr(clock, method, None)) for method in ("now", "wait")):
        raise ConfigError(
            f"clock must have now() and wait(event, timeout) methods (leaselect.Clock), "
            f"got {clock!r}"
        )


def check_flag(name: str, value: object) -> None:
    """A bool option."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


def check_store_ttl(ttl: float, scheme: str, max_ttl: float) -> None:
    """The store's own maximum, checked before anything is sent."""
    if ttl > max_ttl:
        raise ConfigError(f"ttl must be at most {max_ttl:g}s on the {scheme} store, got {ttl!r}")


def check_stop_grace(stop_grace: object) -> float:
    """``stop_grace`` where the lease timing is not built yet: seconds, not negative. Its upper
    bound (``Timing.max_stop_grace``) is checked by ``Timing`` once the TTL is known."""
    if isinstance(stop_grace, bool) or not isinstance(stop_grace, numbers.Real):
        raise ConfigError(f"stop_grace must be a number of seconds, got {stop_grace!r}")
    seconds = float(stop_grace)
    if not seconds >= 0:
        raise ConfigError(f"stop_grace must not be negative: {stop_grace!r}")
    return seconds
