"""Model-based tests of the elector: Hypothesis drives the state machine of ``machine.py``.

``LEASELECT_HYPOTHESIS_PROFILE=ci`` (the default) runs a bounded, derandomized set of examples
(the same every run, about a minute in all, no shrinking); ``=long`` runs many more, randomly
seeded, and shrinks a failure to its shortest form. A failure prints its steps as code and a
``@reproduce_failure`` blob. The ``replay_*`` tests are shrunk failing examples kept as code.

Each test names the defect of tool issue 12 it caught on main at 9250b6f (see docs/faults.md);
all pass since the fixes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from .machine import (
    AFTER_CLOSE,
    ALL,
    API_IN_CALLBACKS,
    CAMPAIGN_ERRORS_F,
    EXIT,
    LOSSES,
    RAISE,
    RELEASE,
    ElectorModel,
    machine,
)

_COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
settings.register_profile(
    "ci",
    max_examples=20,
    stateful_step_count=25,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    **_COMMON,
)
settings.register_profile("long", max_examples=500, stateful_step_count=50, **_COMMON)
CI = settings.get_profile("ci")
PROFILE = settings.get_profile(os.environ.get("LEASELECT_HYPOTHESIS_PROFILE", "ci"))
TIMEOUT = 600 if PROFILE.max_examples <= 20 else 7200


def run(families: frozenset[str], name: str, examples: int) -> None:
    """``examples`` in the ci profile (each of these finds its defect on main within them)."""
    chosen = settings(PROFILE, max_examples=examples) if PROFILE is CI else PROFILE
    run_state_machine_as_test(machine(families, name), settings=chosen)


@pytest.mark.timeout(TIMEOUT)
def test_delayed_reordered_replies_early_expiry_raising_callbacks_release() -> None:
    run(frozenset({RAISE, RELEASE}), "DelaysAndRelease", 25)


@pytest.mark.timeout(TIMEOUT)
def test_lost_requests_and_replies() -> None:
    """Caught on 9250b6f: issue 12 item 8: a re-adopted key gives a new tenure the previous
    tenure's token.
    """
    run(frozenset({LOSSES, RAISE}), "Losses", 10)


@pytest.mark.timeout(TIMEOUT)
def test_campaign_and_session_errors() -> None:
    """Caught on 9250b6f: issue 12 item 1: the campaign thread dies on an exception outside
    its retry block.
    """
    run(frozenset({CAMPAIGN_ERRORS_F, RAISE}), "CampaignErrors", 20)


@pytest.mark.timeout(TIMEOUT)
def test_callbacks_raising_system_exit() -> None:
    """Caught on 9250b6f: issue 12 item 3: a callback raising SystemExit kills the callback
    thread.
    """
    run(frozenset({EXIT, RAISE}), "CallbacksExit", 15)


@pytest.mark.timeout(TIMEOUT)
def test_api_called_from_callbacks() -> None:
    """Caught on 9250b6f: issue 12 items 4 and 5: the API called from inside callbacks
    (acquire in on_lost, close).
    """
    run(frozenset({API_IN_CALLBACKS, RELEASE, RAISE}), "ApiInCallbacks", 10)


@pytest.mark.timeout(TIMEOUT)
def test_use_after_close() -> None:
    """Caught on 9250b6f: issue 12 item 5: use after close() is silent."""
    run(frozenset({AFTER_CLOSE, RELEASE, RAISE}), "UseAfterClose", 10)


@pytest.mark.timeout(TIMEOUT)
def test_everything() -> None:
    """Caught on 9250b6f: issue 12 items 1, 3, 4, 5, 8 (every family at once)."""
    run(ALL, "Everything", 10)


# -- shrunk failing examples, kept as code ------------------------------------------------------


def replay(
    families: frozenset[str], count: int, actions: list[tuple[int, int]], steps: list[str]
) -> None:
    """Run ``steps`` (method calls on the machine) checking the invariants after each."""
    state: ElectorModel = machine(families, "Replay")()
    try:
        state.create(count=count, picks=actions + [(0, 0)] * (3 - len(actions)))
        state.contract_holds()
        for step in steps:
            name, _, args = step.partition("(")
            kwargs = eval(f"dict({args}")  # steps are literals written in this file
            getattr(state, name)(**kwargs)
            state.contract_holds()
    finally:
        state.teardown()


# picks index into ["none", "raise", "exit", "acquire", "release", "start", "close"]
# (the actions the family allows, in that order)
def test_replay_readopted_token_after_a_cut() -> None:
    """Caught on 9250b6f: issue 12 item 8: elected 1 -> lost 1 unreachable -> elected 1."""
    replay(
        frozenset({LOSSES}),
        1,
        [(0, 0)],
        ["start(i=0)", "cut(lead=0.6, fate='lose_request', seconds=2.0, then=0.3)"],
    )


def test_replay_session_failure_kills_the_campaign() -> None:
    """Caught on 9250b6f: issue 12 item 1: session creation fails, the campaign thread dies,
    nobody ever leads.
    """
    replay(frozenset({CAMPAIGN_ERRORS_F}), 1, [(0, 0)], ["session_fails()", "start(i=0)"])


def test_replay_campaign_overflow_kills_the_campaign() -> None:
    """Caught on 9250b6f: issue 12 item 1: a campaign raising OverflowError kills the
    campaign thread.
    """
    replay(
        frozenset({CAMPAIGN_ERRORS_F}),
        1,
        [(0, 0)],
        ["store_mode(mode='manual')", "start(i=0)", "campaign_raises(i=0, error='overflow')"],
    )


def test_replay_system_exit_in_on_lost() -> None:
    """Caught on 9250b6f: issue 12 item 3: SystemExit in on_lost kills the callback thread."""
    replay(frozenset({EXIT}), 1, [(0, 1)], ["start(i=0)", "advance(seconds=3.0)"])


def test_replay_acquire_inside_on_lost() -> None:
    """Caught on 9250b6f: issue 12 item 4: acquire() inside on_lost deadlocks the campaign."""
    replay(frozenset({API_IN_CALLBACKS}), 1, [(0, 1)], ["start(i=0)", "advance(seconds=3.0)"])


def test_replay_start_after_close() -> None:
    """Caught on 9250b6f: issue 12 item 5: start() after close() neither raises nor stays
    stopped.
    """
    replay(frozenset({AFTER_CLOSE, RELEASE}), 1, [(0, 0)], ["stop(i=0, op='close')", "start(i=0)"])


def test_replay_release_then_start_leaves_the_lease_unrenewed() -> None:
    """Caught on 9250b6f: issue 12 item 2: release() whose join timed out, then start(): the
    lease is never renewed.
    """
    replay(
        frozenset({RELEASE}),
        1,
        [(0, 0)],
        [
            "store_mode(mode='manual')",
            "start(i=0)",
            "stop(i=0, op='release')",
            "advance(seconds=1.5)",  # the keeper's keep-alive waits too
            "advance(seconds=1.5)",  # release's join times out;
            # pending: campaign, keep_alive, resign
            "answer(i=2, fate='deliver')",
            "start(i=0)",
            "answer(i=0, fate='deliver')",
            "store_mode(mode='deliver')",
        ],
    )


def test_replay_acquire_in_on_lost_during_close() -> None:
    """Caught on 9250b6f: issue 12 items 4 and 5: acquire() in on_lost during close(): a
    tenure after close, on_lost without on_elected.
    """
    replay(
        frozenset({API_IN_CALLBACKS, RELEASE}),
        1,
        [(0, 1)],
        ["start(i=0)", "stop(i=0, op='close')", "advance(seconds=3.0)"],
    )
