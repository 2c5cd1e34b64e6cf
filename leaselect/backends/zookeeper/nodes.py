"""The nodes of a ZooKeeper election: their names, and how a candidate's node is made.

The election's node is ``<root>/<name>``; each candidate's is ``<guid>-lock-<sequence>`` under
it, ephemeral and sequential, and the lowest sequence leads. The GUID lets a create whose reply
was lost be found again on retry (``find_created``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError

from ...errors import BackendUnavailable, ConfigError

LOCK_MARK = "-lock-"

Result = Callable[[Any, str], Any]  # waits for a pipelined request (``ProvingSession.result``)


def sequence_of(child: str) -> str:
    """The sequence suffix of a node name (zero-padded, so it sorts as text)."""
    return child.rsplit(LOCK_MARK, 1)[1]


def queue(children: list[str]) -> list[str]:
    """The candidates' node names in election order."""
    return sorted((c for c in children if LOCK_MARK in c), key=sequence_of)


def node_data(identity: str, metadata: str) -> bytes:
    """What a candidate's node holds: who it is, for ``observe``."""
    return json.dumps({"identity": identity, "metadata": metadata}).encode()


def create_candidate(client: Any, parent: str, guid: str, identity: str, metadata: str) -> Any:
    """Send the create of a candidate's node under ``parent`` (which must exist: on a new
    election the create fails at once, and ``make_parent`` then costs one more round trip,
    where kazoo's ``makepath`` cost three and two more reads)."""
    return client.create_async(
        f"{parent}/{guid}{LOCK_MARK}",
        node_data(identity, metadata),
        ephemeral=True,
        sequence=True,
        include_data=True,
    )


def make_parent(result: Result, client: Any, parent: str, name: str, hosts: str) -> None:
    """Create the node ``parent`` of election ``name`` (and the root above it if that is missing
    too); a chroot (in ``hosts``) that does not exist is the user's to create (kazoo cannot from
    inside it)."""
    try:
        try:
            result(client.create_async(parent), "create election node")
        except NoNodeError:
            made = client.create_async(parent, makepath=True)
            result(made, "create election node")
    except NodeExistsError:
        pass  # another candidate made it meanwhile
    except NoNodeError:
        if result(client.exists_async("/"), "stat chroot") is None:
            chroot = hosts.partition("/")[2]
            raise ConfigError(
                f"ZooKeeper chroot /{chroot} does not exist: create it, or leave the "
                "chroot out of the URL and use ?root= (leaselect creates that)"
            ) from None
        raise BackendUnavailable(
            f"a node above election {name!r} was deleted while we made it; registering again"
        ) from None


def find_created(result: Result, client: Any, parent: str, guid: str) -> tuple[str, Any] | None:
    """The node under ``parent`` that a create of ours whose reply was lost made (its name
    starts with ``guid``) and its stat, or None."""
    try:
        children = result(client.get_children_async(parent), "list")
    except NoNodeError:
        children = []
    for child in children:
        if child.startswith(guid):
            stat = result(client.exists_async(f"{parent}/{child}"), "stat")
            if stat is not None:
                return child, stat
    return None
