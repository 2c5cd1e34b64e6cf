"""Bad input to the public API: one ConfigError naming the parameter, never a raw TypeError,
OverflowError or UnicodeEncodeError from deep inside, never a silent default."""

from __future__ import annotations

import math
import threading
from typing import Any, ClassVar

import pytest

from leaselect import ConfigError, Elector
from leaselect.testing import FakeClock
from tests.unit.scripted import ScriptedBackend


class FortySecondStore(ScriptedBackend):
    """A store whose TTL is capped, as ZooKeeper's session timeout is."""

    max_ttl: ClassVar[float] = 40.0


BAD_ELECTOR_ARGS: list[tuple[str, dict[str, Any], str]] = [
    ("ttl str", {"ttl": "5"}, "ttl must be a number"),
    ("ttl None", {"ttl": None}, "ttl must be a number"),
    ("ttl bool", {"ttl": True}, "ttl must be a number"),
    ("ttl inf", {"ttl": math.inf}, "ttl must be finite"),
    ("ttl nan", {"ttl": math.nan}, "ttl must be finite"),
    ("ttl huge", {"ttl": 3e10}, "ttl must be at most 86400s"),
    ("ttl over a day", {"ttl": 86401}, "ttl must be at most 86400s"),
    ("ttl zero", {"ttl": 0}, "ttl must be positive"),
    ("ttl negative", {"ttl": -5}, "ttl must be positive"),
    ("margin inf", {"margin": math.inf}, "margin must be finite"),
    ("margin nan", {"margin": math.nan}, "margin must be finite"),
    ("margin str", {"margin": "1"}, "margin must be a number"),
    ("renew_interval inf", {"renew_interval": math.inf}, "renew_interval must be finite"),
    ("renew_interval str", {"renew_interval": "1"}, "renew_interval must be a number"),
    ("drift nan", {"drift": math.nan}, "drift must be finite"),
    ("drift bool", {"drift": True}, "drift must be a number"),
    ("drift str", {"drift": "0.01"}, "drift must be a number"),
    ("clock object", {"clock": object()}, "clock must have now"),
    ("on_elected int", {"on_elected": 5}, "on_elected must be callable"),
    ("on_lost str", {"on_lost": "stop"}, "on_lost must be callable"),
    ("on_jeopardy int", {"on_jeopardy": 5}, "on_jeopardy must be callable"),
    ("identity int", {"identity": 5}, "identity must be a string"),
    ("identity bytes", {"identity": b"node-a"}, "identity must be a string"),
    ("identity empty", {"identity": ""}, "identity must be 1..256 printable"),
    ("identity escape", {"identity": "node\x1b[31ma"}, "identity must be 1..256 printable"),
    ("identity newline", {"identity": "node\na"}, "identity must be 1..256 printable"),
    ("identity surrogate", {"identity": "node\ud800"}, "identity must be 1..256 printable"),
    ("metadata int", {"metadata": 5}, "metadata must be a string"),
    ("metadata bytes", {"metadata": b"http://x"}, "metadata must be a string"),
    ("metadata surrogate", {"metadata": "http://x/\ud800"}, "metadata must be printable"),
    ("metadata escape", {"metadata": "\x1b]0;owned\x07"}, "metadata must be printable"),
    ("metadata newline", {"metadata": "a\nb"}, "metadata must be printable"),
    ("metadata too long", {"metadata": "x" * 1025}, "metadata must be at most 1024 bytes"),
    ("release_on_exit str", {"release_on_exit": "yes"}, "release_on_exit must be True or False"),
]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [row[1:] for row in BAD_ELECTOR_ARGS],
    ids=[row[0] for row in BAD_ELECTOR_ARGS],
)
def test_bad_elector_arguments_are_refused_naming_the_parameter(
    kwargs: dict[str, Any], message: str
) -> None:
    before = threading.active_count()
    with pytest.raises(ConfigError, match=message):
        Elector(ScriptedBackend(), "job", **kwargs)
    assert threading.active_count() == before


def test_a_backend_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="Elector needs a Backend or a store URL"):
        Elector(5, "job")  # type: ignore[arg-type]


def test_a_ttl_above_the_stores_maximum_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="ttl must be at most 40s on the scripted store"):
        Elector(FortySecondStore(), "job", ttl=41)
    Elector(FortySecondStore(), "job", ttl=40, release_on_exit=False).close()


@pytest.mark.parametrize("timeout", [-1, -0.001, math.nan, "1", True])
def test_bad_acquire_timeouts_are_refused(timeout: object) -> None:
    backend = ScriptedBackend()
    elector = Elector(backend, "job", ttl=9.0, clock=FakeClock())
    try:
        with pytest.raises(ConfigError, match="timeout must be None or"):
            elector.acquire(timeout=timeout)  # type: ignore[arg-type]
        assert backend.campaigns == 0
    finally:
        elector.close()


def test_an_infinite_acquire_timeout_waits_like_none() -> None:
    elector = Elector(ScriptedBackend(), "job", ttl=9.0, clock=FakeClock())
    try:
        assert elector.acquire(timeout=math.inf) is not None
    finally:
        elector.close()
