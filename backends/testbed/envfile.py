"""The servers' environment, and the KEY=VALUE files (etcd.env, java.env) that add to it."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from .errors import BackendError


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (optionally quoted values; # comments) into a dict."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BackendError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = " ".join(shlex.split(value))
    return values


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without ETCD_* variables (etcd would read them), plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ETCD_")}
    env.update(extra or {})
    return env
