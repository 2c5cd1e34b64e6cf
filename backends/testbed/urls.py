"""The stores' URLs for the tests: the ``LEASELECT_TEST_*_URL`` variables and test.env."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .process import running_pid
from .state import state_dir
from .topology import KINDS, STORES, check_stores


def store_env(stores: Sequence[str] | None = None) -> dict[str, str]:
    """The ``LEASELECT_TEST_*_URL`` variables the tests read, for the given stores."""
    return {KINDS[store].url_variable: KINDS[store].url() for store in check_stores(stores)}


def env_file() -> Path:
    """Where ``up`` and ``down`` write the URLs of the running stores."""
    return state_dir() / "test.env"


def write_env_file() -> Path:
    """Write ``test.env`` with the URL of every store whose members all run."""
    running = [s for s in STORES if all(running_pid(m) for m in KINDS[s].members)]
    path = env_file()
    lines = [f"{key}={value}\n" for key, value in store_env(running).items()] if running else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path
