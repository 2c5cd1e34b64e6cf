"""Real partitions: every contender on its own "host" (a network namespace) on one bridge.

The bridge ``ls7-br`` holds 10.207.0.1 in the root namespace; host ``n`` is namespace
``ls7-h<n>`` with address 10.207.1.<n>, joined to the bridge by the veth pair
``ls7-v<n>``/``ls7-p<n>``. A partition is the host's link going down on the bridge side: the
kernel drops its packets both ways, connections stay open and TCP retransmits, as on a real
network. Store connections reach the servers through relays listening on the bridge address.
Every name starts with ``ls7-`` and every address lies in 10.207.0.0/16; ``Net.close`` removes
them all, and ``Net.__init__`` first removes leftovers of a crashed run.
"""

from __future__ import annotations

import os
import subprocess

PREFIX = "ls7-"
BRIDGE = f"{PREFIX}br"
GATEWAY = "10.207.0.1"


class NetnsUnavailable(RuntimeError):
    """This machine does not let the test create namespaces (not root, no iproute2...)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def available() -> str | None:
    """None if namespaces work here, else the reason they do not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        _ip("netns", "add", f"{PREFIX}probe")
        _ip("netns", "del", f"{PREFIX}probe")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"ip netns does not work here: {exc}"
    return None


class Host:
    """One namespace on the bridge."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.ns = f"{PREFIX}h{number}"
        self.outer = f"{PREFIX}v{number}"
        self.inner = f"{PREFIX}p{number}"
        self.address = f"10.207.1.{number}"

    def create(self) -> None:
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        _ip("link", "set", self.inner, "netns", self.ns)
        _ip("link", "set", self.outer, "master", BRIDGE, "up")
        inside = ("netns", "exec", self.ns, "ip")
        _ip(*inside, "addr", "add", f"{self.address}/16", "dev", self.inner)
        _ip(*inside, "link", "set", self.inner, "up")
        _ip(*inside, "link", "set", "lo", "up")

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def cut(self) -> None:
        _ip("link", "set", self.outer, "down")

    def heal(self) -> None:
        _ip("link", "set", self.outer, "up")


class Net:
    """The bridge and the hosts of one run."""

    def __init__(self) -> None:
        cleanup()
        self.hosts: list[Host] = []
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{GATEWAY}/16", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")

    def host(self) -> Host:
        host = Host(len(self.hosts) + 1)
        self.hosts.append(host)
        host.create()
        return host

    def close(self) -> None:
        cleanup()


def cleanup() -> None:
    """Remove every ``ls7-`` namespace and link (ours only: the prefix is ours)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(": ")
        if len(parts) > 1:
            name = parts[1].split("@")[0]
            if name.startswith(PREFIX):
                _ip("link", "del", name, check=False)
