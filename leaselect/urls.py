"""Store URLs: parsing with clear errors, and redaction so credentials never reach a log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from .errors import ConfigError

_PASSWORD_IN_URL = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)", re.I
)


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL. ``password`` is excluded from ``repr``."""

    scheme: str
    hosts: tuple[tuple[str, int | None], ...]
    path: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)
    raw: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by ``***``."""
        return redact(self.raw)

    def host_list(self, default_port: int) -> list[tuple[str, int]]:
        """Hosts with ``default_port`` filled in."""
        return [(host, port or default_port) for host, port in self.hosts]


def redact(text: str) -> str:
    """Replace any password embedded in a URL inside ``text`` with ``***``."""
    return _PASSWORD_IN_URL.sub(lambda m: m.group("head") + "***", text)


def parse(url: str) -> StoreUrl:
    """Parse ``scheme://[user[:password]@]host[:port][,host[:port]...][/path][?k=v&...]``."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"store URL must look like scheme://..., got {redact(str(url))!r}")
    scheme, rest = url.split("://", 1)
    rest, _, query = rest.partition("?")
    netloc, slash, tail = rest.partition("/")
    userinfo, _, hostpart = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return StoreUrl(
        scheme=scheme.lower(),
        hosts=_parse_hosts(hostpart, url),
        path=unquote(slash + tail),
        username=unquote(user) or None,
        password=unquote(password) if userinfo and ":" in userinfo else None,
        options=dict(parse_qsl(query)),
        raw=url,
    )


def _parse_hosts(hostpart: str, url: str) -> tuple[tuple[str, int | None], ...]:
    hosts: list[tuple[str, int | None]] = []
    for item in filter(None, hostpart.split(",")):
        host, port = _split_port(item, url)
        hosts.append((host, port))
    return tuple(hosts)


def _split_port(item: str, url: str) -> tuple[str, int | None]:
    if item.startswith("["):
        host, _, after = item[1:].partition("]")
        port_text = after.removeprefix(":")
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        host, port_text = item, ""
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"bad port {port_text!r} in store URL {redact(url)!r}")
    return host, int(port_text)
