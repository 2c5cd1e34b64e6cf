"""Where the store URL comes from: ``--url``, else ``$LEASELECT_URL``, else a ``.env`` file.

The ``.env`` file is looked up from the working directory upwards (like python-dotenv's
``find_dotenv(usecwd=True)``), but a file is used only if it belongs to the user running
``leaselect`` and nobody else may write it (like git's ``safe.directory``): a ``.env`` that
another user left in a shared directory must not choose where our credentials go. It is read
without ``${VAR}`` interpolation, and only ``LEASELECT_URL`` is taken from it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dotenv import dotenv_values

from ..errors import ConfigError

ENV_VAR = "LEASELECT_URL"
CREDENTIALS = (  # the variables leaselect reads credentials from
    ENV_VAR,
    "LEASELECT_REDIS_PASSWORD",
    "REDIS_PASSWORD",
    "LEASELECT_ZK_USER",
    "LEASELECT_ZK_PASSWORD",
)
ENV_FILE = ".env"
log = logging.getLogger("leaselect.cli")


def resolve_url(option: str | None, start: Path | None = None) -> tuple[str, str]:
    """The store URL and where it was found; ``ConfigError`` when there is none."""
    if option is not None:
        if not option.strip():
            raise ConfigError("--url is empty")
        return option, "--url"
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env, f"${ENV_VAR}"
    for path in candidates(start or Path.cwd()):
        value = dotenv_values(path, interpolate=False).get(ENV_VAR)
        if value:
            return value, str(path)
    raise ConfigError(
        f"no store URL: pass --url, set ${ENV_VAR}, or put {ENV_VAR}=... in a {ENV_FILE} file "
        "(looked up from the working directory upwards)"
    )


def candidates(start: Path) -> Iterator[Path]:
    """The ``.env`` files from ``start`` upwards that this user may trust, nearest first."""
    for directory in (start, *start.parents):
        path = directory / ENV_FILE
        try:
            info = path.stat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning(
                "ignoring %s: it belongs to uid %d or others may write it (only a .env file of "
                "your own, writable only by you, is read)",
                path,
                info.st_uid,
            )
            continue
        yield path


def dotenv_credentials_allowed(allowed: bool) -> None:
    """A URL from a ``.env`` file gets no password from the environment unless ``allowed``:
    otherwise whoever wrote the file could name the host our password is sent to."""
    if allowed:
        return
    for key in CREDENTIALS:
        if key != ENV_VAR and os.environ.pop(key, ""):
            log.warning(
                "not using $%s: the store URL came from a .env file (--env-credentials allows it)",
                key,
            )
