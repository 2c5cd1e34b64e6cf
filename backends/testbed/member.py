"""One server process of a store: its name, ports and files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .state import state_dir

HOST = "127.0.0.1"  # every server listens here only, peer ports too


@dataclass(frozen=True)
class Member:
    """One server process: its name, store, index in the store and TCP ports."""

    name: str
    store: str
    index: int  # 1-based within its store
    port: int  # the client port
    peer_ports: tuple[int, ...] = ()  # etcd peer; ZooKeeper quorum and election

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port this member may listen on."""
        return (self.port, *self.peer_ports)

    @property
    def directory(self) -> Path:
        """The member's own directory under the state dir."""
        return state_dir() / self.name

    @property
    def pid_file(self) -> Path:
        """Where the pid of the member's server is kept."""
        return self.directory / "server.pid"

    @property
    def output_log(self) -> Path:
        """The server's stdout and stderr."""
        return self.directory / "server.log"
