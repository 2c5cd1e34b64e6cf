"""How an ``Elector`` applies its state machine's effects: observers, events, logs, callbacks;
and the keeper's answers that produce them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from . import events
from .backend import Candidacy, Renewal
from .dispatch import Dispatcher
from .elector_state import ElectorState, log
from .keeper import Holder
from .lease import Leader
from .logfields import with_fields
from .machine import Effect, Elected, Jeopardy, Lost, Recovered


class ElectorEffects(ElectorState):
    """Effects become flags, events, log lines and queued callbacks (never blocking)."""

    def _observe(self, observer: Callable[[Effect], None]) -> None:
        """Internal: call ``observer(effect)`` for every state change as it happens.

        It runs on the thread that made the change (the deadline watchdog, the renewal loop, a
        ``release`` caller), under the elector's lock and before any user callback is queued, so
        it must only set flags or events. Leader-work stoppers use it (never the callback thread).
        """
        self._observers.append(observer)

    def _apply(self, effects: list[Effect]) -> None:
        if effects and self._watched:
            self._watchdog.poke(self)
        if effects and events.listening():
            self._publish_effects(effects)
        for effect in effects:
            for observer in self._observers:
                observer(effect)
            if isinstance(effect, Elected):
                self._last_elected = effect.lease
                self.lost.clear()
                self._settled.set()
                token = effect.lease.token
                extra = with_fields(self._fields, token=token)
                log.info("elected %r token=%d as %s", self.name, token, self.identity, extra=extra)
                if (on_elected := self._callbacks.on_elected) is not None:
                    self._call(functools.partial(on_elected, effect.lease), "on_elected")
            elif isinstance(effect, Jeopardy):
                extra = with_fields(self._fields, token=effect.lease.token)
                log.warning("%r in jeopardy: renewals failing", self.name, extra=extra)
                if (on_jeopardy := self._callbacks.on_jeopardy) is not None:
                    self._call(functools.partial(on_jeopardy, effect.lease), "on_jeopardy")
            elif isinstance(effect, Recovered):
                extra = with_fields(self._fields, token=effect.lease.token)
                log.info("%r renewals recovered", self.name, extra=extra)
            elif isinstance(effect, Lost):
                self.lost.set()
                token, reason = effect.lease.token, effect.reason.value
                extra = with_fields(self._fields, token=token, reason=reason)
                log.info("lost %r token=%d: %s", self.name, token, reason, extra=extra)
                if (on_lost := self._callbacks.on_lost) is not None:
                    self._call(functools.partial(on_lost, effect.lease, effect.reason), "on_lost")

    def _publish_effects(self, effects: list[Effect]) -> None:
        now = self._clock.now()
        for effect in effects:
            lease = effect.lease
            if isinstance(effect, Elected):
                self._publish(events.Elected, now, lease.token, lease.ttl, lease.deadline)
            elif isinstance(effect, Jeopardy):
                self._publish(events.Jeopardy, now, lease.token, lease.deadline)
            elif isinstance(effect, Recovered):
                self._publish(events.Recovered, now, lease.token, lease.deadline)
            elif isinstance(effect, Lost):
                self._publish(events.Lost, now, lease.token, effect.reason)

    def _publish(self, kind: Callable[..., events.Event], at: float, *fields: object) -> None:
        """Queue one event for the listeners (never blocks: see leaselect.events)."""
        scheme = type(self.backend).scheme
        events.publish(kind(self.name, self.identity, scheme, at, *fields))

    def _call(self, call: Callable[[], None], label: str) -> None:
        """Queue ``call`` (a callback with its arguments) behind the elector's other callbacks."""
        if self._callbacks_stopped:
            return
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(self.name, self._user_mask, self._fields)
        self._dispatcher.submit(call, label)

    def _new_leader(self, leader: Leader | None) -> None:
        """A change the leader watch saw: ``on_new_leader`` in order with the other callbacks."""
        if (on_new_leader := self._callbacks.on_new_leader) is not None:
            self._call(functools.partial(on_new_leader, leader), "on_new_leader")

    def _stop_callbacks(self) -> None:
        with self._lock:
            self._callbacks_stopped = True
            dispatcher, self._dispatcher = self._dispatcher, None
            self._stopped_dispatcher = dispatcher or self._stopped_dispatcher
        if dispatcher is not None:
            dispatcher.stop(timeout=self.timing.ttl)

    def _on_renewal(self, renewal: Renewal, sent: float) -> None:
        with self._lock:
            now = self._clock.now()
            self._last_contact = now
            if renewal.ttl is not None:
                anchor = self._machine.anchor
                effects = self._machine.renewed(renewal.ttl, sent, now)
                lease = self._machine.lease
                if lease is not None and self._machine.anchor == sent and events.listening():
                    self._publish(
                        events.Renewed, now, lease.token, now - sent, now - anchor, lease.deadline
                    )
            elif renewal.reason is None:
                return
            else:
                effects = self._machine.taken(sent, now, renewal.reason)
            self._apply(effects)

    def _on_renew_failure(self, sent: float, now: float) -> None:
        with self._lock:
            lease = self._machine.lease
            if lease is not None and events.listening():  # before the jeopardy it may cause
                self._publish(events.RenewFailed, now, lease.token)
            self._apply(self._machine.renew_failed(now, sent))

    def _hold(self, candidacy: Candidacy) -> None:
        """Have the keeper renew ``candidacy`` (no change if it already does)."""
        assert self._keeper is not None
        self._keeper.hold(
            Holder(
                candidacy,
                self.timing.renew_every,
                self.timing.retry_delay(),
                self._on_renewal,
                self._on_renew_failure,
            )
        )
