"""Fixtures of the Elector unit tests: a fake clock, a scripted backend, a recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leaselect import Elector
from leaselect.testing import FakeClock
from tests.unit.driving import TTL, Recorder
from tests.unit.scripted import ScriptedBackend


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def elector(backend: ScriptedBackend, clock: FakeClock, recorder: Recorder) -> Iterator[Elector]:
    elector = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected, on_lost=recorder.on_lost
    )
    yield elector
    backend.unblock.set()
    elector.close()
