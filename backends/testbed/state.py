"""Where the testbed keeps its files and which ports it shifts: the state directory, the offset."""

from __future__ import annotations

import os
from pathlib import Path

from . import env_names
from .errors import BackendError

BACKENDS_DIR = Path(__file__).resolve().parent.parent  # the servers' config files
REPO_DIR = BACKENDS_DIR.parent


def state_dir() -> Path:
    """Where data, logs and pid files live: $LEASELECT_BACKENDS_STATE or <repo>/.backends-state."""
    configured = os.environ.get(env_names.STATE_DIR)
    return Path(configured).resolve() if configured else REPO_DIR / ".backends-state"


def port_offset() -> int:
    """$LEASELECT_BACKENDS_PORT_OFFSET (default 0), added to every port: a second server set
    (with its own ``LEASELECT_BACKENDS_STATE``) can run beside the first."""
    raw = os.environ.get(env_names.PORT_OFFSET, "0") or "0"
    try:
        offset = int(raw)
    except ValueError:
        message = f"{env_names.PORT_OFFSET} must be an integer, not {raw!r}"
        raise BackendError(message) from None
    if not 0 <= offset <= 20000:
        raise BackendError(f"{env_names.PORT_OFFSET} must be in 0..20000, not {offset}")
    return offset
