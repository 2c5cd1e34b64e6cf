"""The state machine: several electors of one election against the adversarial store.

Rules call the public API (from the test and from inside callbacks), decide the fate of every
request, expire the lease early within its bound and advance the clock. After every step the
threads settle and the invariants of the elector's contract are checked:

* no elector's ``is_leader`` is True while the store says its lease is gone or held by another;
* ``on_elected``/``on_lost`` alternate per elector, one ``on_lost`` per ``on_elected`` with the
  same token, and ``on_lost`` has run once the lease's local deadline has passed;
* tokens of successive tenures strictly increase (per elector; never shared between electors);
* no leaselect thread died; an API call on a closed elector raises ``LeaselectError``;
* at the end, with faults stopped: some elector leads within the documented bound if one still
  wants to, and closing every elector leaves no leaselect thread behind.

Which kinds of fault and callback a run may use is a ``Family`` set, so each defect can be
pinned by a run that enables just what reaches it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from leaselect import Elector, Lease, LostReason
from leaselect.elector import MAX_BACKOFF
from leaselect.errors import LeaselectError

from .harness import ModelClock, Threads, controlled, stacks
from .store import CAMPAIGN_ERRORS, FATES, MODES, Call, ModelBackend, Store

TTL = 3.0
DRIFT = 0.01
MARGIN = 0.9  # a wide window between the local deadline and the store's expiry
CUT_STEP = 0.25
NAME = "model"
LIVENESS_STEP = 1.0
LIVENESS_BOUND = 2 * TTL + 2 * MAX_BACKOFF  # store expiry + one full backoff + a wait, generous
CALLBACK_ACQUIRE_TIMEOUT = 1000.0  # beyond the liveness phase: a deadlock shows as no leader
STABLE_WINDOW = 2 * TTL  # a leader must keep leading this long once faults stopped
USER_JOIN = 30.0  # real seconds a user thread gets at teardown

# families of behaviour a run may enable
LOSSES = "losses"  # replies/requests lost or duplicated (else: only delayed and reordered)
CAMPAIGN_ERRORS_F = "campaign_errors"  # a campaign raising a non-leaselect error; session failures
RAISE = "raise"  # callbacks raising Exception
EXIT = "exit"  # callbacks raising SystemExit
API_IN_CALLBACKS = "api_in_callbacks"  # acquire/release/start/close from inside callbacks
AFTER_CLOSE = "after_close"  # the API called on a closed elector
RELEASE = "release"  # release()/close() from the test thread
ALL = frozenset({LOSSES, CAMPAIGN_ERRORS_F, RAISE, EXIT, API_IN_CALLBACKS, AFTER_CLOSE, RELEASE})


@dataclass
class Subject:
    """One elector and what the test knows of it."""

    index: int
    elector: Elector
    backend: ModelBackend
    on_elected: str
    on_lost: str
    open: Lease | None = None
    tokens: list[int] = field(default_factory=list)
    in_callback: int = 0
    in_flight: int = 0
    want: str | None = None  # start | acquire | tenure | None
    ambiguous: bool = False
    closed: bool = False  # close() has returned
    closing: bool = False  # close() was called


class ElectorModel(RuleBasedStateMachine):
    """Subclasses set ``families``."""

    families: ClassVar[frozenset[str]] = ALL

    def __init__(self) -> None:
        super().__init__()
        self.clock = ModelClock()
        self.store = Store(self.clock, TTL, DRIFT)
        self.threads = Threads(self.clock, self.store.blocked)  # type: ignore[arg-type]
        self.before = set(threading.enumerate())
        self.subjects: list[Subject] = []
        self.users: list[threading.Thread] = []
        self.violations: list[str] = []
        self.losses: list[tuple[float, int, LostReason]] = []
        self.trace: list[str] = []  # callbacks and API calls, shown when an invariant fails
        self.healthy = True
        self._control = controlled(self.threads)
        self._control.__enter__()

    # -- setup ----------------------------------------------------------------------------------

    def _actions(self) -> list[str]:
        actions = ["none"]
        if RAISE in self.families:
            actions.append("raise")
        if EXIT in self.families:
            actions.append("exit")
        if API_IN_CALLBACKS in self.families:
            actions += ["acquire", "release", "start"]
            if RELEASE in self.families:
                actions.append("close")
        return actions

    @initialize(
        count=st.integers(1, 3),
        picks=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=3, max_size=3),
    )
    def create(self, count: int, picks: list[tuple[int, int]]) -> None:
        actions = self._actions()
        for index in range(count):
            elected, lost = (actions[p % len(actions)] for p in picks[index])
            backend = ModelBackend(self.store)
            subject = Subject(index, None, backend, elected, lost)  # type: ignore[arg-type]
            subject.elector = Elector(
                backend,
                NAME,
                ttl=TTL,
                drift=DRIFT,
                margin=MARGIN,
                identity=f"e{index}",
                clock=self.clock,
                on_elected=functools.partial(self._elected, subject),
                on_lost=functools.partial(self._lost, subject),
            )
            self.subjects.append(subject)

    # -- callbacks ----------------------------------------------------------------------------

    def _note(self, text: str) -> None:
        self.trace.append(f"{self.clock.now() - 1000:8.3f} {text}")

    def _elected(self, s: Subject, lease: Lease) -> None:
        self._note(f"e{s.index} on_elected token {lease.token}")
        s.in_callback += 1
        try:
            if s.open is not None:
                self.violations.append(f"e{s.index}: on_elected twice (open {s.open.token})")
            if s.tokens and lease.token <= s.tokens[-1]:
                self.violations.append(
                    f"e{s.index}: token {lease.token} after token {s.tokens[-1]} (not increasing)"
                )
            for other in self.subjects:
                if other is not s and lease.token in other.tokens:
                    self.violations.append(f"e{s.index}: token {lease.token} also e{other.index}'s")
            s.open = lease
            s.tokens.append(lease.token)
            self._act(s, s.on_elected)
        finally:
            s.in_callback -= 1

    def _lost(self, s: Subject, lease: Lease, reason: LostReason) -> None:
        self._note(f"e{s.index} on_lost token {lease.token} {reason.value}")
        s.in_callback += 1
        try:
            if s.open is None or s.open.token != lease.token:
                opened = None if s.open is None else s.open.token
                self.violations.append(f"e{s.index}: on_lost {lease.token} while open {opened}")
            s.open = None
            self.losses.append((self.clock.now(), s.index, reason))
            if s.want == "tenure":
                s.want = None
            self._act(s, s.on_lost)
        finally:
            s.in_callback -= 1

    def _act(self, s: Subject, action: str) -> None:
        if action == "raise":
            raise RuntimeError("model: callback raised")
        if action == "exit":
            raise SystemExit(3)
        if action in ("acquire", "release", "start", "close"):
            try:
                self._call(s, action, CALLBACK_ACQUIRE_TIMEOUT)
            except LeaselectError:
                pass  # refusing a call from inside a callback with a clear error is allowed
            except Exception as exc:
                self.violations.append(f"e{s.index}: {action}() in a callback raised {exc!r}")

    # -- the public API -------------------------------------------------------------------------

    def _call(self, s: Subject, op: str, timeout: float | None = None) -> None:
        """Call ``op`` on ``s`` in this thread, tracking what it wants."""
        if s.in_flight:
            s.ambiguous = True
        s.in_flight += 1
        closed_before = s.closed  # close() returned: start/acquire must raise
        closing = s.closing  # close() was called: they may raise
        self._note(f"e{s.index} {op}({'' if timeout is None else timeout})")
        try:
            self._invoke(s, op, timeout, closed_before)
            self._note(f"e{s.index} {op} returned")
        except LeaselectError:
            if not closing:
                raise
        finally:
            s.in_flight -= 1

    def _invoke(self, s: Subject, op: str, timeout: float | None, closed_before: bool) -> None:
        elector = s.elector
        if op == "start":
            elector.start()
            s.want = "start"
        elif op == "acquire":
            before = s.want
            if elector.lease is None:
                s.want = "acquire"
            try:
                lease = elector.acquire(timeout)
            except LeaselectError:
                s.want = before
                raise
            if lease is None:
                s.want = None
            elif s.want == "acquire":
                s.want = "tenure"
        elif op == "release":
            elector.release()
            s.want = None
        elif op == "close":
            s.closing = True
            s.want = None
            elector.close()
            s.closed = True
        if closed_before and op in ("start", "acquire"):
            self.violations.append(f"e{s.index}: {op}() on a closed elector did not raise")

    def _spawn(self, s: Subject, op: str, timeout: float | None = None) -> None:
        def run() -> None:
            try:
                self._call(s, op, timeout)
            except BaseException as exc:
                self.violations.append(f"e{s.index}: {op}() raised {exc!r}")

        thread = threading.Thread(target=run, name=f"user-e{s.index}-{op}", daemon=True)
        self.users.append(thread)
        thread.start()

    def _subject(self, i: int) -> Subject:
        return self.subjects[i % len(self.subjects)]

    def _usable(self, i: int) -> bool:
        return AFTER_CLOSE in self.families or not self._subject(i).closing

    @rule(i=st.integers(0, 2))
    def start(self, i: int) -> None:
        if self._usable(i):
            self._spawn(self._subject(i), "start")
        self._step()

    @rule(i=st.integers(0, 2), timeout=st.sampled_from([0.0, 1.0, 5.0]))
    def acquire(self, i: int, timeout: float) -> None:
        if self._usable(i):
            self._spawn(self._subject(i), "acquire", timeout)
        self._step()

    @rule(i=st.integers(0, 2), op=st.sampled_from(["release", "close"]))
    def stop(self, i: int, op: str) -> None:
        if RELEASE in self.families and not self._subject(i).closing:
            self._spawn(self._subject(i), op)
        self._step()

    # -- the store and time ---------------------------------------------------------------------

    @rule(i=st.integers(0, 7), fate=st.sampled_from(FATES))
    def answer(self, i: int, fate: str) -> None:
        if fate not in ("deliver", "hold") and LOSSES not in self.families:
            fate = "deliver"
        pending = self._pending()
        if pending:
            self.store.resolve(pending[i % len(pending)], fate)
        self._step()

    def _pending(self, kind: str | None = None) -> list[Call]:
        """Pending requests in an order that does not depend on thread timing."""
        calls = [c for c in list(self.store.pending) if kind in (None, c.kind)]
        return sorted(calls, key=lambda c: (c.kind, c.who, c.applied, c.number))

    @rule(mode=st.sampled_from(MODES))
    def store_mode(self, mode: str) -> None:
        if mode in ("manual", "deliver") or LOSSES in self.families:
            self.store.set_mode(mode)
        self._step()

    @rule(i=st.integers(0, 7), error=st.sampled_from(CAMPAIGN_ERRORS))
    def campaign_raises(self, i: int, error: str) -> None:
        campaigns = self._pending("campaign")
        if CAMPAIGN_ERRORS_F in self.families and campaigns:
            self.store.resolve(campaigns[i % len(campaigns)], error)
        self._step()

    @rule()
    def session_fails(self) -> None:
        if CAMPAIGN_ERRORS_F in self.families:
            with self.store.lock:
                self.store.fail_sessions += 1
        self._step()

    @rule()
    def expire_early(self) -> None:
        self.store.expire_early()
        self._step()

    @rule(seconds=st.sampled_from([0.1, 0.3, 0.5, 1.0, TTL]))
    def advance(self, seconds: float) -> None:
        self._advance(seconds)

    @rule(
        lead=st.sampled_from([0.0, 0.3, 0.6]),
        fate=st.sampled_from(["lose_request", "lose_reply"]),
        seconds=st.sampled_from([1.0, 2.0, 3.0]),
        then=st.sampled_from([0.0, 0.1, 0.3]),
    )
    def cut(self, lead: float, fate: str, seconds: float, then: float) -> None:
        """After ``lead`` s, the store unreachable (or deaf to us) for ``seconds``, time passing
        in small steps; then ``then`` s more with the store as before."""
        if LOSSES not in self.families:
            fate = "deliver"
        self._advance(lead)
        before = self.store.mode
        self.store.set_mode(fate)
        for _ in range(int(seconds / CUT_STEP)):
            self._advance(CUT_STEP)
        self.store.set_mode(before)
        self._advance(then)

    def _advance(self, seconds: float) -> None:
        self.healthy = False
        self.threads.advance(seconds)

    def _step(self) -> None:
        self.healthy = False
        self.threads.settle()

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def contract_holds(self) -> None:
        self.check()
        self.healthy = True

    def check(self) -> None:
        problems = self.violations + self.threads.deaths
        assert not problems, "\n".join(problems) + "\ntrace:\n" + "\n".join(self.trace[-40:])
        holder = self.store.live_holder()
        now = self.clock.now()
        for s in self.subjects:
            if s.elector.is_leader:
                owner = None if holder is None else holder.identity
                assert owner == s.elector.identity, (
                    f"e{s.index} is_leader at {now:.3f} but the store's lease is "
                    f"{'gone' if owner is None else 'held by ' + owner}"
                )
            lease = s.open
            if lease is not None and not s.in_callback and now >= lease.deadline:
                raise AssertionError(
                    f"e{s.index}: no on_lost for token {lease.token} at {now:.3f}, "
                    f"past its deadline {lease.deadline:.3f}"
                )

    # -- the end: liveness, then nothing left behind -----------------------------------------

    def teardown(self) -> None:
        try:
            if self.healthy and self.subjects:
                self._liveness()
        finally:
            self._cleanup()

    def _liveness(self) -> None:
        self.store.set_auto()
        self.threads.settle()
        waited = 0.0
        while waited < LIVENESS_BOUND:
            self.threads.advance(LIVENESS_STEP)
            waited += LIVENESS_STEP
            self.check()
        wanting = [
            s
            for s in self.subjects
            if not s.ambiguous and not s.closing and s.want in ("start", "acquire")
        ]
        leaders = [s for s in self.subjects if s.elector.is_leader]
        assert leaders or not wanting, (
            f"nobody leads {LIVENESS_BOUND:g}s after faults stopped, yet "
            f"{[f'e{s.index}:{s.want}' for s in wanting]} campaign\n" + stacks()
        )
        if leaders and all(s.want == "start" and not s.ambiguous for s in leaders):
            self._stays_leader(leaders[0])
        for s in list(self.subjects):
            self._spawn(s, "close")
        self.threads.settle()
        self.threads.advance(TTL)
        self.check()
        for thread in self.users:
            thread.join(USER_JOIN)
        stuck = [t.name for t in self.users if t.is_alive()]
        assert not stuck, f"API calls never returned: {stuck}\n" + stacks()
        left = [
            t.name
            for t in threading.enumerate()
            if t not in self.before and t.name.startswith("leaselect")
        ]
        assert not left, f"threads left behind after close(): {left}\n" + stacks()

    def _stays_leader(self, leader: Subject) -> None:
        """With every request answered, a started leader's lease is renewed: it never ends."""
        since = self.clock.now()
        for _ in range(int(STABLE_WINDOW / LIVENESS_STEP)):
            self.threads.advance(LIVENESS_STEP)
            self.check()
        ended = [(t, i, r.value) for t, i, r in self.losses if t >= since and i == leader.index]
        assert not ended and leader.elector.is_leader, (
            f"e{leader.index} led with every request answered, yet its tenure ended: {ended}"
        )

    def _cleanup(self) -> None:
        self.store.set_auto()
        for s in self.subjects:
            if not s.closed:
                threading.Thread(target=self._quiet_close, args=(s,), daemon=True).start()
        for _ in range(400):  # let joins and waits on the model clock run out: no thread of
            self.clock.advance(TTL)  # this example may run on into the next one
            if not [t for t in threading.enumerate() if t not in self.before]:
                break
            threading.Event().wait(0.01)
        self._control.__exit__(None, None, None)

    @staticmethod
    def _quiet_close(s: Subject) -> None:
        with contextlib.suppress(BaseException):  # cleanup after a failure already reported
            s.elector.close()


def machine(families: frozenset[str], name: str) -> Any:
    """An ``ElectorModel`` subclass restricted to ``families``."""
    return type(name, (ElectorModel,), {"families": families})
