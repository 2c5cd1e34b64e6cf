"""What the launcher needs from each kind of server (redis, etcd, zookeeper): one interface."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

from .member import Member
from .newer import NewerServer, selected_version


@dataclass(frozen=True)
class StartOptions:
    """How to start a member: only Redis has options (see ``redis.PERSISTENCE``)."""

    persistence: str = "everysec"  # the AOF fsync policy, or off
    extra_args: tuple[str, ...] = ()  # more redis-server arguments


class ServerKind(abc.ABC):
    """One kind of server: its members on this run's ports, how to start and probe them."""

    store: str  # redis, etcd, zookeeper
    url_variable: str  # the variable that hands the store's URL to the tests
    package: str  # the Debian 12 package that provides the server
    service: str | None = None  # the system service the package would start (blocked)
    default_ports: tuple[int, ...] = ()  # where a system service of the package would listen
    newer: NewerServer | None = None  # a newer server line, selected by a variable
    stop_leader_last = False  # stop the leader after its followers (down)

    def __init__(self, offset: int) -> None:
        self.members = self.layout(offset)

    @abc.abstractmethod
    def layout(self, offset: int) -> tuple[Member, ...]:
        """The members, their ports shifted by ``offset``."""

    @abc.abstractmethod
    def installed(self) -> bool:
        """Whether what runs the servers is on this machine."""

    @abc.abstractmethod
    def command(self, member: Member, options: StartOptions) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that start ``member`` (creating its data and config)."""

    @abc.abstractmethod
    def healthy(self, member: Member) -> bool:
        """Whether the member serves (for a cluster: as part of a working quorum)."""

    @abc.abstractmethod
    def role(self, member: Member) -> str | None:
        """leader, follower, primary... as the member says; None if it does not answer."""

    @abc.abstractmethod
    def leader(self) -> str | None:
        """The name of the member that leads now, or None."""

    @abc.abstractmethod
    def url(self) -> str:
        """The leaselect URL of the store (every member)."""

    def log_files(self, member: Member) -> list[Path]:
        """The member's logs, its stdout and stderr first."""
        return [member.output_log]

    def version(self) -> str | None:
        """The newer version selected for this store, or None for the system's server."""
        return selected_version(self.newer)

    def data_dir(self, member: Member) -> Path:
        """The member's data directory, one per version (an older server cannot read a newer
        one's data)."""
        version = self.version()
        return member.directory / ("data" if version is None else f"data-{version}")
