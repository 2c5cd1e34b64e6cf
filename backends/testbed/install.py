"""Installing missing servers from Debian packages, without starting their services."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import BackendError
from .kind import ServerKind
from .probe import port_open

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def which(program: str) -> str:
    """The path of ``program`` (on $PATH or in the system's directories)."""
    found = shutil.which(program) or shutil.which(program, path=SYSTEM_PATH)
    if found is None:
        raise BackendError(f"{program} not found (run `python3 backends/launch.py up` as root)")
    return found


def on_path(program: str) -> bool:
    """Whether ``program`` is on $PATH or in /usr/sbin, /usr/bin."""
    search = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"
    return shutil.which(program, path=search) is not None


@contextlib.contextmanager
def _services_blocked() -> Iterator[None]:
    """A policy-rc.d that forbids starting services while packages install; then the old one."""
    backup = POLICY_RC_D.with_name("policy-rc.d.leaselect-backup")
    had_one = POLICY_RC_D.exists()
    if had_one:
        os.replace(POLICY_RC_D, backup)
    POLICY_RC_D.write_text("#!/bin/sh\n# leaselect backends/launch.py: no services\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        if had_one:
            os.replace(backup, POLICY_RC_D)
        else:
            POLICY_RC_D.unlink(missing_ok=True)


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


def _apt_install(packages: Sequence[str]) -> None:
    """apt-get install the packages without starting their services; apt-get update if needed."""
    command = ("install", "-y", "--no-install-recommends", *packages)
    print(f"launch.py: installing {' '.join(packages)} (apt-get)...", file=sys.stderr)
    with _services_blocked():
        result = _apt(*command)
        if result.returncode != 0:
            print("launch.py: apt-get install failed; apt-get update and retry", file=sys.stderr)
            _apt("update")
            result = _apt(*command)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise BackendError(f"apt-get install {' '.join(packages)} failed:\n{tail}")


def _run_if_present(argv: Sequence[str]) -> None:
    """Run a system tool if it exists, ignoring its outcome."""
    if shutil.which(argv[0], path=SYSTEM_PATH):
        subprocess.run(list(argv), capture_output=True, check=False)


def _disable_services(kinds: Sequence[ServerKind]) -> None:
    """Keep the packages' system services from starting at boot (sysvinit and systemd)."""
    for kind in kinds:
        if kind.service is not None:
            _run_if_present(["update-rc.d", kind.service, "disable"])
            _run_if_present(["deb-systemd-helper", "disable", f"{kind.service}.service"])


def _check_no_system_listeners(kinds: Sequence[ServerKind]) -> None:
    """Fail if a system redis/etcd/ZooKeeper service (default ports) is listening."""
    busy = [port for kind in kinds for port in kind.default_ports if port_open(port)]
    if busy:
        raise BackendError(
            f"something listens on default port(s) {busy} after the package install: "
            "check `ss -ltnp` and stop the system service (e.g. `service redis-server stop`)"
        )


def ensure_installed(kinds: Sequence[ServerKind], every_kind: Sequence[ServerKind]) -> None:
    """Install the Debian packages of the kinds whose servers are missing (root only).

    ``every_kind``: all kinds, whose system services' default ports are checked afterwards.
    """
    missing = [kind for kind in kinds if not kind.installed()]
    if not missing:
        return
    packages = [kind.package for kind in missing]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BackendError(
            f"missing server packages: {' '.join(packages)}. Install them with\n"
            f"  sudo apt-get install -y --no-install-recommends {' '.join(packages)}\n"
            "(or run this launcher as root on Debian/Ubuntu, or use docker compose)"
        )
    _apt_install(packages)
    _disable_services(missing)
    still = [kind.package for kind in kinds if not kind.installed()]
    if still:
        raise BackendError(f"installed {' '.join(packages)}, yet still missing: {' '.join(still)}")
    _check_no_system_listeners(every_kind)
