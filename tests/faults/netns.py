"""Real partitions: every contender on its own "host" (a network namespace) on one bridge.

A network has a name prefix and a /16 (the fault suite's: ``ls7-``, 10.207.0.0/16). Its bridge
``<prefix>br`` holds 10.<n>.0.1 in the root namespace; host ``k`` is namespace ``<prefix>h<k>``
with address 10.<n>.1.<k>, joined to the bridge by the veth pair ``<prefix>v<k>``/``<prefix>p<k>``.
A partition is the host's link going down on the bridge side: the kernel drops its packets both
ways, connections stay open and TCP retransmits, as on a real network. Store connections reach
the shared servers through relays listening on the bridge address. Every name of a network
starts with its prefix and every address lies in its /16; ``Net.close`` removes them all, and
``Net.__init__`` first removes leftovers of a crashed run with the same prefix. Two networks
with different prefixes and subnets are independent (for example the fault suite's and the
hosted store members' of ``test_partitions``).
"""

from __future__ import annotations

import os
import subprocess

PREFIX = "ls7-"
SUBNET = 207


class NetnsUnavailable(RuntimeError):
    """This machine does not let the test create namespaces (not root, no iproute2...)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def available() -> str | None:
    """None if namespaces work here, else the reason they do not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"lsprobe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"ip netns does not work here: {exc}"
    return None


class Host:
    """One namespace on the bridge."""

    def __init__(self, number: int, prefix: str = PREFIX, subnet: int = SUBNET) -> None:
        self.number = number
        self.bridge = f"{prefix}br"
        self.ns = f"{prefix}h{number}"
        self.outer = f"{prefix}v{number}"
        self.inner = f"{prefix}p{number}"
        self.address = f"10.{subnet}.1.{number}"

    def create(self) -> None:
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        _ip("link", "set", self.inner, "netns", self.ns)
        _ip("link", "set", self.outer, "master", self.bridge, "up")
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

    def __init__(self, prefix: str = PREFIX, subnet: int = SUBNET) -> None:
        self.prefix, self.subnet = prefix, subnet
        self.gateway = f"10.{subnet}.0.1"
        cleanup(prefix)
        self.hosts: list[Host] = []
        bridge = f"{prefix}br"
        # A bridge without an address of its own takes the lowest MAC of its ports and changes
        # it when a host joins with a lower one: the hosts' ARP entries then point at the old
        # MAC and their store connections hang until the entries expire (seen: 30 s). A set
        # address never changes.
        mac = f"02:00:0a:{subnet:02x}:00:01"
        _ip("link", "add", bridge, "address", mac, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/16", "dev", bridge)
        _ip("link", "set", bridge, "up")

    def host(self) -> Host:
        host = Host(len(self.hosts) + 1, self.prefix, self.subnet)
        self.hosts.append(host)
        host.create()
        return host

    def close(self) -> None:
        cleanup(self.prefix)


def cleanup(prefix: str = PREFIX) -> None:
    """Remove every namespace and link whose name starts with ``prefix`` (ours only)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(": ")
        if len(parts) > 1:
            name = parts[1].split("@")[0]
            if name.startswith(prefix):
                _ip("link", "del", name, check=False)
