"""Where the store URL comes from: ``--url``, else ``$LEASELECT_URL``, else ``./.env``."""

from __future__ import annotations

import os

from dotenv import dotenv_values

from ..errors import ConfigError

ENV_VAR = "LEASELECT_URL"


def resolve_url(option: str | None, env_file: str = ".env") -> tuple[str, str]:
    """The store URL and where it was found; ``ConfigError`` when there is none."""
    if option:
        return option, "--url"
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env, f"${ENV_VAR}"
    if os.path.isfile(env_file):
        value = dotenv_values(env_file).get(ENV_VAR)
        if value:
            return value, env_file
    raise ConfigError(
        f"no store URL: pass --url, set ${ENV_VAR}, or put {ENV_VAR}=... in ./{env_file}"
    )
