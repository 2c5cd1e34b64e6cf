"""Store members on hosts of their own: a private 3-member ZooKeeper ensemble or etcd cluster
whose members each run in a network namespace on the fault suite's bridge (``netns``), so a
partition can cut one member off together with a contender that runs beside it.

Each namespace has its own network stack, so every member uses its store's standard ports on
its own address (10.207.1.N) without touching the shared test servers. The servers are the
ones ``backends/launch.py`` installs, with its configuration (zoo.cfg.in, java.env, etcd.env)
and its command lines (``backends.testbed``'s ``etcd`` and ``zookeeper`` modules).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.testbed import etcd, zookeeper
from backends.testbed.envfile import read_env_file, server_env
from backends.testbed.install import which

from .netns import Host, Net

CLIENT_PORT = {"zookeeper": 2181, "etcd": 2379}
PEER_PORTS = {"zookeeper": (2888, 3888), "etcd": (2380,)}


@dataclass
class Member:
    """One store member on its own host."""

    index: int
    host: Host
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return self.host.address


class HostedCluster:
    """Three members of ``store`` ("zookeeper" or "etcd"), each in its own namespace."""

    def __init__(self, net: Net, store: str, run_dir: Path) -> None:
        self.store, self.run_dir = store, run_dir
        self.members: list[Member] = []
        hosts = [net.host() for _ in range(3)]
        try:
            for index, host in enumerate(hosts, 1):
                argv = self._command(index, host, hosts)
                with (run_dir / f"{store}-{index}.log").open("ab") as out:
                    proc = subprocess.Popen(
                        host.wrap(argv),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=server_env(self._env()),
                        start_new_session=True,
                    )
                self.members.append(Member(index, host, proc))
        except BaseException:
            self.close()
            raise

    # -- addresses ----------------------------------------------------------------------------

    def url(self, members: list[Member] | None = None) -> str:
        chosen = self.members if members is None else members
        port = CLIENT_PORT[self.store]
        scheme = "zk" if self.store == "zookeeper" else "etcd"
        return f"{scheme}://" + ",".join(f"{m.address}:{port}" for m in chosen)

    # -- state --------------------------------------------------------------------------------

    def leader(self) -> Member | None:
        """The member that leads the quorum now, if one answers as the leader."""
        for member in self.members:
            if self._is_leader(member):
                return member
        return None

    def healthy(self, timeout: float) -> Member:
        """Wait until every member serves and one leads; the leader."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            leader = self.leader()
            if leader is not None and all(self._serving(m) for m in self.members):
                return leader
            time.sleep(0.2)
        raise AssertionError(
            f"hosted {self.store} not healthy in {timeout:g}s; logs in {self.run_dir}"
        )

    def close(self) -> None:
        for member in self.members:
            if member.proc.poll() is None:
                member.proc.send_signal(signal.SIGKILL)
        for member in self.members:
            member.proc.wait(10)

    # -- per store ----------------------------------------------------------------------------

    def _command(self, index: int, host: Host, hosts: list[Host]) -> list[str]:
        data = self.run_dir / f"{self.store}-{index}"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.store == "etcd":
            client, peer = f"http://{host.address}:2379", f"http://{host.address}:2380"
            cluster = ",".join(f"m{i}=http://{h.address}:2380" for i, h in enumerate(hosts, 1))
            return [which("etcd"), *etcd.flags(f"m{index}", data, client, peer, cluster)]
        (data / "myid").write_text(f"{index}\n")
        text = zookeeper.fill_config(
            {
                "DATA_DIR": str(data),
                "CLIENT_PORT": "2181",
                "CLIENT_ADDRESS": host.address,
                **{f"HOST_{i}": h.address for i, h in enumerate(hosts, 1)},
                **{f"QUORUM_{i}": "2888" for i in (1, 2, 3)},
                **{f"ELECTION_{i}": "3888" for i in (1, 2, 3)},
            }
        )
        config = data / "zoo.cfg"
        config.write_text(text)
        return zookeeper.java_command(config, data, zookeeper.CLASSPATH)

    def _env(self) -> dict[str, str]:
        return read_env_file(etcd.SETTINGS) if self.store == "etcd" else {}

    def _is_leader(self, member: Member) -> bool:
        if self.store == "zookeeper":
            return "Mode: leader" in self._four_letters(member, b"srvr")
        status = self._etcd_status(member)
        return status is not None and status.get("leader") == status["header"]["member_id"]

    def _serving(self, member: Member) -> bool:
        if self.store == "zookeeper":
            return "Mode: " in self._four_letters(member, b"srvr")
        return self._etcd_status(member) is not None

    @staticmethod
    def _four_letters(member: Member, word: bytes) -> str:
        try:
            with socket.create_connection((member.address, 2181), timeout=1.0) as conn:
                conn.sendall(word)
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _etcd_status(member: Member) -> dict[str, Any] | None:
        request = urllib.request.Request(
            f"http://{member.address}:2379/v3/maintenance/status", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=1.0) as reply:
                status: dict[str, Any] = json.loads(reply.read())
        except (OSError, ValueError):
            return None
        return status if "header" in status else None
