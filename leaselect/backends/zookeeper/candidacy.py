"""One candidacy in a ZooKeeper election: an ephemeral sequential node, lowest sequence leads.

The node is ``<root>/<name>/<guid>-lock-<sequence>``: the GUID lets a create whose reply was lost
be found again on retry. A waiter watches only its predecessor (no herd). The fencing token is
the leader node's czxid, which increases across tenures even if the parent is recreated.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from kazoo.exceptions import NodeExistsError, NoNodeError

from ...backend import Candidacy, Grant, Waiting
from ...clock import SYSTEM_CLOCK
from ...errors import BackendUnavailable, ConfigError
from .anchor import Answered
from .connection import Connection

LOCK_MARK = "-lock-"
MAX_CHECKS = 4  # predecessor vanished between listing and watching: list again, a few times


def sequence_of(child: str) -> str:
    """The sequence suffix of a node name (zero-padded, so it sorts as text)."""
    return child.rsplit(LOCK_MARK, 1)[1]


def queue(children: list[str]) -> list[str]:
    """The candidates' node names in election order."""
    return sorted((c for c in children if LOCK_MARK in c), key=sequence_of)


def node_data(identity: str, metadata: str) -> bytes:
    """What a candidate's node holds: who it is, for ``observe``."""
    return json.dumps({"identity": identity, "metadata": metadata}).encode()


class Services(Protocol):
    """What a candidacy uses of its session (``ZooKeeperSession``)."""

    new_elections: bool  # the last new election's node was missing: send the next one's ahead

    @property
    def conn(self) -> Connection: ...
    def live(self) -> tuple[Any, int]: ...
    def result(self, pending: Any, what: str) -> Any: ...
    def lease_ttl(self, sid: int) -> float: ...
    def answered(self, epoch: int, sent: float) -> Answered: ...
    def grant_anchor(
        self, client: Any, sid: int, epoch: int, own: Answered | None, path: str
    ) -> float: ...
    def next_in_line(self) -> None: ...
    def node_event(self, renew: bool = True) -> None: ...
    def discard(self, path: str, owner: int) -> None: ...
    def collect(self) -> None: ...


class OwnRead(NamedTuple):
    """A read of our node in flight: for which node, session and connection, sent when."""

    pending: Any
    key: tuple[str, int, int]
    asked: float


class ZooKeeperCandidacy(Candidacy):
    """One process's node in one election of a ZooKeeper store."""

    def __init__(self, session: Services, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.parent = f"{session.conn.config.root}/{name}"
        self.node: str | None = None  # our node's name under ``parent``
        self.owner: int | None = None  # the session id that created it
        self.token = 0
        self.leading = False
        self.tenure = 0  # counts grants: a keep-alive settles only the tenure it started with
        self.flags = threading.Lock()  # guards ``leading`` and ``tenure`` against the keeper
        self._guid = uuid.uuid4().hex
        self._guid_given_up = self._guid
        self._pending: int | None = None  # a create was sent in this session; reply unseen
        self._changed = threading.Event()
        self._interrupted = False
        self._resume: Callable[[], None] | None = None  # of a parked wait (see park)
        self._resume_lock = threading.Lock()
        self._head: str | None = None  # the predecessor we watch, when it is the leader
        self._head_gone = False
        self._own_read: OwnRead | None = None  # sent when the leader's node went (_on_event)
        self.gone = False  # the watch on our node fired: a keep-alive ends the tenure at once
        self.armed = False  # a watch on our node is set and has not fired

    def next_in_line(self) -> bool:
        """Registered, not leading, and watching the leader: the next to lead. The keeper
        keeps a proven touch of the session ready for its grant."""
        with self.flags:
            leading = self.leading
        return self._head is not None and self.node is not None and not leading

    @property
    def path(self) -> str:
        """Our node's full path (only while registered)."""
        return f"{self.parent}/{self.node}"

    def campaign(self, sent: float) -> Grant | Waiting:
        self._changed.clear()
        if self._interrupted:
            self._changed.set()
        started = SYSTEM_CLOCK.now()  # no earlier than ``sent``
        client, sid = self.session.live()
        epoch = self.session.conn.epoch
        if self.owner not in (None, sid):  # that session is gone, and its node with it
            self._forget()
        head_gone, self._head_gone = self._head_gone, False
        own_read, self._own_read = self._own_read, None
        if head_gone and self.owner == sid and self.node is not None and self.armed:
            # our predecessor led and is gone; nodes created later sort after ours. Our own
            # node may have gone with it in one transaction (one zxid: its watch event may
            # come second), so one read of it, sent after that event, decides
            if own_read is None or own_read.key != (self.node, sid, epoch):
                own_read = OwnRead(client.exists_async(self.path), (self.node, sid, epoch), started)
            if self.session.result(own_read.pending, "stat our node") is not None:
                own = self.session.answered(epoch, own_read.asked)
                return self._lead(client, sid, epoch, own, sent, started)
            self._forget()  # gone: register again
        self.session.collect()
        for _ in range(MAX_CHECKS):
            order, mine = self._register(client, sid)
            if self.owner != self.session.conn.session_id():
                raise BackendUnavailable(
                    f"ZooKeeper session changed while campaigning {self.name!r}"
                )
            if mine == 0:
                own = self.session.answered(epoch, started)
                return self._lead(client, sid, epoch, own, sent, started)
            self._head = f"{self.parent}/{order[0]}" if mine == 1 else None
            if self._watch(client, f"{self.parent}/{order[mine - 1]}"):
                if self._head is not None:
                    self.session.next_in_line()
                return Waiting()
        self._changed.set()  # keep going: campaign again right away
        return Waiting()

    def _lead(
        self, client: Any, sid: int, epoch: int, own: Answered | None, sent: float, started: float
    ) -> Grant:
        """Lead from a proven anchor (SYSTEM_CLOCK), moved onto the elector's clock: ``sent``
        was read before ``started``, so ``sent - (started - anchor)`` is no later than it."""
        anchor = self.session.grant_anchor(client, sid, epoch, own, self.path)
        with self.flags:
            self.tenure += 1
            self.leading = True
        if self.gone or not self.armed:  # our node changed since: a keep-alive looks at once
            self.session.node_event(renew=True)
        return Grant(self.token, self.session.lease_ttl(sid), sent - max(0.0, started - anchor))

    def wait(self, waiting: Waiting, timeout: float) -> None:
        self._changed.wait(timeout)
        self._interrupted = False

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """The watches that set ``_changed`` call ``resume`` instead of waking a thread."""
        with self._resume_lock:
            if not self._changed.is_set():
                self._resume = resume
                return timeout
        self._interrupted = False
        return 0.0

    def unpark(self) -> None:
        with self._resume_lock:
            self._resume = None
        self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True
        self._change()

    def wake(self) -> None:
        """The connection changed or our predecessor did: campaign again (kazoo's thread)."""
        self._change()

    def _change(self) -> None:
        """Something worth a campaign happened: end the wait (or resume the parked one)."""
        self._changed.set()
        with self._resume_lock:
            resume, self._resume = self._resume, None
        if resume is not None:
            self._interrupted = False
            resume()

    def resign(self) -> None:
        """Give our node up: the session deletes it now or as soon as it is connected again,
        whether or not this candidacy campaigns again (``observe`` skips it meanwhile)."""
        with self.flags:
            self.leading = False
        if self.node is not None and self.owner is not None:
            self.session.discard(self.path, self.owner)
        pending = self._pending
        self._forget()
        if pending is not None:  # a create whose reply was lost may have made a node
            self._discard_lost_create(pending)

    def _discard_lost_create(self, owner: int) -> None:
        try:
            client, sid = self.session.live()
            if sid != owner:
                return  # made in a session that is gone: its node went with it
            children = self.session.result(client.get_children_async(self.parent), "list")
        except (BackendUnavailable, NoNodeError):
            return  # best effort: a node of ours we cannot find yet goes with the session
        for child in children:
            if child.startswith(self._guid_given_up):
                self.session.discard(f"{self.parent}/{child}", owner)

    def _on_event(self, event: Any) -> None:
        """Our predecessor changed. If it was the leader and is gone, we lead: nodes created
        later sort after ours, so no round trip is needed if the session is fresh."""
        if event.type == "DELETED" and event.path == self._head:
            self._head_gone = True
            self._read_own_node()
        self._change()

    def _read_own_node(self) -> None:
        """Send the read of our node that decides whether we lead (see ``campaign``) from
        kazoo's event thread, before the campaign runs: its round trip overlaps the hop to the
        campaign's thread (0.35 ms of a 4.3 ms hand-over, measured). Sent after the leader's
        delete event arrived, its answer comes after every event of that transaction."""
        conn = self.session.conn
        epoch, sid, client, node = conn.epoch, conn.session_id(), conn.current(), self.node
        if client is None or sid is None or node is None or self.owner != sid or not self.armed:
            return  # the campaign finds out what to do
        asked = SYSTEM_CLOCK.now()
        try:
            pending = client.exists_async(f"{self.parent}/{node}")
        except Exception:  # the connection is going: the campaign reads (or registers) again
            return
        self._own_read = OwnRead(pending, (node, sid, epoch), asked)

    def _arm(self, client: Any) -> None:
        """Set the watch on our new node without waiting (sent right behind the create)."""
        self.armed = True
        client.exists_async(self.path, watch=self.own_watch)

    def own_watch(self, event: Any) -> None:
        """Our node was deleted (or its session ended): the tenure ends at the keep-alive the
        session runs right now, or a proof in progress stops. A node we resigned needs no
        keep-alive round (closing 1,000 leaders ran 1,000 rounds of 1,000 checks). Any event
        (also a data change) uses the watch up: the next keep-alive sets it again."""
        self.armed = False
        if event.path == self.path and event.type in ("DELETED", "NONE"):
            self.gone = True
            with self.flags:
                leading = self.leading
            self.session.node_event(renew=leading)

    def _forget(self) -> None:
        self.node = self.owner = self._pending = self._head = None
        with self.flags:
            self.leading = False
        self._guid_given_up, self._guid = self._guid, uuid.uuid4().hex

    def _register(self, client: Any, sid: int) -> tuple[list[str], int]:
        """Create our node if needed and list the queue, pipelined: one round trip (two more on
        a new election: its node is made first, then ours, then the queue is listed again; none
        if the session's last new election sent its node ahead: ``session.new_elections``).

        Returns the queue and our place in it.
        """
        if self._pending not in (None, sid):
            self._pending = None  # sent in a session that is gone: its node went with it
        if self.node is None and self._pending == sid:
            self._find_lost_create(client, sid)
        created = parent = None
        if self.node is None:
            self._pending = sid
            if self.session.new_elections:  # likely new too: its node first, same round trip
                parent = client.create_async(self.parent)
            created = self._create(client)
        elif not self.armed:  # the watch fired or the connection changed: set it again first
            self._arm(client)
        listed = client.get_children_async(self.parent)
        if created is not None:
            if parent is not None:
                self._settle_parent(parent)
            try:
                path, stat = self.session.result(created, "create candidate node")
            except NoNodeError:  # a new election: make its node, then ours (and list again)
                self.session.new_elections = True
                self._make_parent(client)
                path, stat = self._create_again(client)
                listed = client.get_children_async(self.parent)
            self._adopt(path.rsplit("/", 1)[1], stat)
            self._arm(client)
        try:
            order = queue(self.session.result(listed, "list candidates"))
        except NoNodeError:  # the election's node is gone, ours with it
            order = []
        if self.node not in order:  # deleted under us (by an operator): register again
            self._forget()
            raise BackendUnavailable(f"candidate node of {self.name!r} vanished; registering again")
        return order, order.index(self.node)

    def _create(self, client: Any) -> Any:
        """Send the create of our node (its parent must exist: on a new election the create
        fails at once, and ``_make_parent`` then costs one more round trip, where kazoo's
        ``makepath`` cost three and two more reads)."""
        return client.create_async(
            f"{self.parent}/{self._guid}{LOCK_MARK}",
            node_data(self.identity, self.metadata),
            ephemeral=True,
            sequence=True,
            include_data=True,
        )

    def _settle_parent(self, parent: Any) -> None:
        """The answer to the election node's create sent ahead of ours: made, or there already
        (the elections are not new after all: the next registrations stop sending it), or its
        own parent is missing (our create fails too, and ``_make_parent`` makes both)."""
        try:
            self.session.result(parent, "create election node")
        except NodeExistsError:
            self.session.new_elections = False
        except NoNodeError:
            pass

    def _create_again(self, client: Any) -> tuple[str, Any]:
        """Our create once the election's node was made; that node deleted again before it
        (an operator) fails this attempt as the store's trouble, not as kazoo's error."""
        try:
            created: tuple[str, Any] = self.session.result(
                self._create(client), "create candidate node"
            )
        except NoNodeError as exc:
            raise BackendUnavailable(
                f"the node of election {self.name!r} was deleted while we registered; "
                "registering again"
            ) from exc
        return created

    def _make_parent(self, client: Any) -> None:
        """Create the election's node (and the root above it if that is missing too); a
        chroot that does not exist is the user's to create (kazoo cannot from inside it)."""
        try:
            try:
                self.session.result(client.create_async(self.parent), "create election node")
            except NoNodeError:
                made = client.create_async(self.parent, makepath=True)
                self.session.result(made, "create election node")
        except NodeExistsError:
            pass  # another candidate made it meanwhile
        except NoNodeError:
            if self.session.result(client.exists_async("/"), "stat chroot") is None:
                chroot = self.session.conn.config.hosts.partition("/")[2]
                raise ConfigError(
                    f"ZooKeeper chroot /{chroot} does not exist: create it, or leave the "
                    "chroot out of the URL and use ?root= (leaselect creates that)"
                ) from None
            raise BackendUnavailable(
                f"a node above election {self.name!r} was deleted while we made it; "
                "registering again"
            ) from None

    def _find_lost_create(self, client: Any, sid: int) -> None:
        try:
            children = self.session.result(client.get_children_async(self.parent), "list")
        except NoNodeError:
            children = []
        for child in children:
            if child.startswith(self._guid):
                stat = self.session.result(client.exists_async(f"{self.parent}/{child}"), "stat")
                if stat is not None:
                    self._adopt(child, stat)
                    return
        self._pending = None

    def _adopt(self, node: str, stat: Any) -> None:
        """Our node, owned by the session that created it (a request queued across a reconnect
        runs in the new session)."""
        owner, czxid = int(stat.ephemeralOwner), int(stat.czxid)
        self.node, self.owner, self.token, self._pending = node, owner, czxid, None
        self.gone = False  # a new node: what the watch said was about the old one

    def _watch(self, client: Any, predecessor: str) -> bool:
        """Watch ``predecessor``; False if it is already gone."""
        found = client.exists_async(predecessor, watch=self._on_event)
        return self.session.result(found, "watch predecessor") is not None
