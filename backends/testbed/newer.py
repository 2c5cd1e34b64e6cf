"""Newer servers, from Debian 13 packages unpacked into the state directory (never installed).

``LEASELECT_ETCD_VERSION=3.5`` and ``LEASELECT_ZOOKEEPER_VERSION=3.9`` select them; unset, the
system's Debian 12 servers run (etcd 3.4, ZooKeeper 3.8).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import BackendError
from .state import state_dir

DEBIAN13_SOURCE = "deb http://deb.debian.org/debian trixie main"


@dataclass(frozen=True)
class NewerServer:
    """A newer server line: its version, the Debian 13 package and the variable selecting it."""

    version: str
    package: str
    variable: str


def selected_version(newer: NewerServer | None) -> str | None:
    """The newer version if its variable selects it, None for the system's server."""
    if newer is None:
        return None
    wanted = os.environ.get(newer.variable, "").strip()
    if wanted in ("", "system"):
        return None
    if wanted != newer.version:
        raise BackendError(f"{newer.variable}={wanted!r}: use {newer.version} or unset it")
    return wanted


def unpacked_root(newer: NewerServer) -> Path:
    """The unpacked Debian 13 package of the newer server, fetched on first use with apt's own
    client (its own sources list and lists directory under the state directory)."""
    package = newer.package
    root = state_dir() / "debian13"
    unpacked = root / package
    if (unpacked / ".unpacked").exists():
        return unpacked
    lists, cache, etc = root / "lists", root / "cache", root / "etc"
    for directory in (lists / "partial", cache / "archives" / "partial", etc):
        directory.mkdir(parents=True, exist_ok=True)
    (etc / "sources.list").write_text(DEBIAN13_SOURCE + "\n")
    options = [
        f"-oDir::Etc::SourceList={etc / 'sources.list'}",
        "-oDir::Etc::SourceParts=/dev/null",
        f"-oDir::State::Lists={lists}",
        f"-oDir::Cache={cache}",
        "-oAPT::Sandbox::User=root",
    ]
    for argv in (
        ["apt-get", "-q", *options, "update"],
        ["apt-get", "-q", *options, "download", package],
    ):
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackendError(f"{' '.join(argv[:1] + argv[-2:])} failed: {done.stderr[-500:]}")
    debs = sorted(root.glob(f"{package}_*.deb"))
    if not debs:
        raise BackendError(f"apt-get download {package} left no .deb in {root}")
    shutil.rmtree(unpacked, ignore_errors=True)
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(unpacked)], check=True)
    (unpacked / ".unpacked").write_text(debs[-1].name + "\n")
    return unpacked
