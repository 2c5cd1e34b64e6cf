"""etcd: a 3-member cluster, per-member flags plus the shared settings of etcd.env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import env_names
from .envfile import read_env_file, server_env
from .install import on_path, which
from .kind import ServerKind, StartOptions
from .member import HOST, Member
from .newer import NewerServer, unpacked_root
from .probe import http_json
from .state import BACKENDS_DIR

SETTINGS = BACKENDS_DIR / "etcd" / "etcd.env"  # read by etcd as ETCD_* variables


def flags(name: str, data: Path, client_url: str, peer_url: str, cluster: str) -> list[str]:
    """The per-member flags of an etcd server."""
    return [
        f"--name={name}",
        f"--data-dir={data}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={cluster}",
    ]


class Etcd(ServerKind):
    """etcd-1..3; healthy when /health says so, the raft leader from the members' status."""

    store = "etcd"
    url_variable = env_names.ETCD_URL
    package = "etcd-server"
    service = "etcd"
    default_ports = (2379, 2380)
    newer = NewerServer("3.5", "etcd-server", env_names.ETCD_VERSION)
    # stopped while its followers stop too, the leader would first try to hand its leadership
    # to one of them, which stalls for seconds
    stop_leader_last = True

    def layout(self, offset: int) -> tuple[Member, ...]:
        return tuple(
            Member(f"etcd-{i}", "etcd", i, 23790 + i + offset, (23800 + i + offset,))
            for i in (1, 2, 3)
        )

    def installed(self) -> bool:
        return on_path("etcd")

    def command(self, member: Member, options: StartOptions) -> tuple[list[str], dict[str, str]]:
        """etcd with the per-member flags; the shared settings come from etcd.env."""
        data = self.data_dir(member)
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        data.chmod(0o700)
        cluster = ",".join(f"{m.name}=http://{HOST}:{m.peer_ports[0]}" for m in self.members)
        client_url = f"http://{HOST}:{member.port}"
        peer_url = f"http://{HOST}:{member.peer_ports[0]}"
        binary = which("etcd")
        if self.newer is not None and self.version() is not None:
            binary = str(unpacked_root(self.newer) / "usr" / "bin" / "etcd")
        argv = [binary, *flags(member.name, data, client_url, peer_url, cluster)]
        return argv, server_env(read_env_file(SETTINGS))

    def healthy(self, member: Member) -> bool:
        """The member's /health is true."""
        return str(http_json(member.port, "/health").get("health")) == "true"

    def role(self, member: Member) -> str | None:
        status = _status(member)
        own = status.get("header", {}).get("member_id")
        if own is None or "leader" not in status:
            return None
        return "leader" if str(status["leader"]) == str(own) else "follower"

    def leader(self) -> str | None:
        """The leader's member name, as the most recent term's reports say; None if none."""
        reports = [_status(m) for m in self.members]
        reports = [r for r in reports if r.get("leader") not in (None, "0")]
        if not reports:
            return None
        newest = max(reports, key=_raft_term)
        for member in self.members:
            listed = http_json(member.port, "/v3/cluster/member/list", {}).get("members", [])
            for entry in listed:
                if str(entry.get("ID")) == str(newest["leader"]):
                    return str(entry.get("name"))
        return None

    def url(self) -> str:
        return "etcd://" + ",".join(f"{HOST}:{m.port}" for m in self.members)


def _status(member: Member) -> dict[str, Any]:
    """The member's maintenance status (the gateway's JSON), {} if it does not answer."""
    return http_json(member.port, "/v3/maintenance/status", {})


def _raft_term(report: dict[str, Any]) -> int:
    return int(report.get("raftTerm", report["header"].get("raft_term", 0)))
