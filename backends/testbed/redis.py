"""Redis: one redis-server, the shared redis.conf, an append-only file with a chosen fsync."""

from __future__ import annotations

import shutil

from . import env_names
from .envfile import server_env
from .errors import BackendError
from .install import on_path, which
from .kind import ServerKind, StartOptions
from .member import HOST, Member
from .probe import exchange
from .state import BACKENDS_DIR

PERSISTENCE = ("everysec", "always", "no", "off")  # appendfsync policies, or no AOF at all
CONFIG = BACKENDS_DIR / "redis" / "redis.conf"


class Redis(ServerKind):
    """A single redis-server; it is its own leader ("primary") while it answers."""

    store = "redis"
    url_variable = env_names.REDIS_URL
    package = "redis-server"
    service = "redis-server"
    default_ports = (6379,)

    def layout(self, offset: int) -> tuple[Member, ...]:
        return (Member("redis", "redis", 1, 16379 + offset),)

    def installed(self) -> bool:
        return on_path("redis-server")

    def command(self, member: Member, options: StartOptions) -> tuple[list[str], dict[str, str]]:
        """redis-server with the shared config; ``options.persistence`` picks the AOF policy."""
        persistence = options.persistence
        if persistence not in PERSISTENCE:
            raise BackendError(f"redis persistence {persistence!r}: one of {PERSISTENCE}")
        data = self.data_dir(member)
        if persistence == "off":
            shutil.rmtree(data, ignore_errors=True)  # a server without persistence starts empty
        data.mkdir(parents=True, exist_ok=True)
        argv = [which("redis-server"), str(CONFIG), "--dir", str(data)]
        argv += ["--port", str(member.port)]  # the config file names the port without offset
        if persistence == "off":
            argv += ["--appendonly", "no"]
        else:
            argv += ["--appendonly", "yes", "--appendfsync", persistence]
        return argv + list(options.extra_args), server_env()

    def healthy(self, member: Member) -> bool:
        """Redis answers PING."""
        return exchange(member.port, b"PING\r\n").startswith(b"+PONG")

    def role(self, member: Member) -> str | None:
        return "primary" if self.healthy(member) else None

    def leader(self) -> str | None:
        return "redis" if self.healthy(self.members[0]) else None

    def url(self) -> str:
        return f"redis://{HOST}:{self.members[0].port}/0"
