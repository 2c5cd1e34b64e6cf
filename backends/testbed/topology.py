"""The stores and their members on this run's ports (shifted by $LEASELECT_BACKENDS_PORT_OFFSET)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import BackendError
from .etcd import Etcd
from .kind import ServerKind
from .member import Member
from .redis import Redis
from .state import port_offset
from .zookeeper import ZooKeeper


def kinds_at(offset: int) -> dict[str, ServerKind]:
    """Every kind of server, by store name, its members' ports shifted by ``offset``."""
    return {kind.store: kind for kind in (Redis(offset), Etcd(offset), ZooKeeper(offset))}


def members_at(offset: int) -> dict[str, Member]:
    """All members, by name, in a stable order (redis, etcd-1..3, zookeeper-1..3)."""
    return {m.name: m for kind in kinds_at(offset).values() for m in kind.members}


KINDS = kinds_at(port_offset())
STORES = tuple(KINDS)  # redis, etcd, zookeeper
MEMBERS = {m.name: m for kind in KINDS.values() for m in kind.members}


def get_member(name: str) -> Member:
    """The member called ``name`` (``redis``, ``etcd-1``..``etcd-3``, ``zookeeper-1``..)."""
    try:
        return MEMBERS[name]
    except KeyError:
        raise BackendError(f"unknown member {name!r}: one of {', '.join(MEMBERS)}") from None


def members_of(stores: Iterable[str]) -> list[Member]:
    """The members of the given stores, in the order of ``MEMBERS``."""
    wanted = set(stores)
    return [member for member in MEMBERS.values() if member.store in wanted]


def check_stores(stores: Sequence[str] | None) -> list[str]:
    """Validate store names; None or empty means all of them."""
    if not stores:
        return list(STORES)
    unknown = [store for store in stores if store not in STORES]
    if unknown:
        raise BackendError(f"unknown store {unknown[0]!r}: one of {', '.join(STORES)}")
    return [store for store in STORES if store in stores]


def kind_of(store: str) -> ServerKind:
    """The kind of server that runs ``store``."""
    return KINDS[check_stores([store])[0]]


def server_version(store: str) -> str | None:
    """The newer version selected for ``store``, or None for the system's server."""
    return kind_of(store).version()
