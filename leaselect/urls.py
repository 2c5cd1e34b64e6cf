"""Store URLs: parsing with clear errors, and redaction so credentials never reach a log.

Redaction works from parsed fields, never by pattern-matching text: ``parse`` records every
credential it finds (the password of the user part, and every credential-bearing query option)
in a process-wide set, and ``redact(text)`` replaces each recorded secret, in every spelling it
may take in a message (as given, percent-encoded either way, escaped), with ``***``. The
passwords leaselect reads from the environment are secrets too.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import overload
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from .errors import ConfigError
from .url_options import OPTIONS, SECRET_OPTIONS, check, check_files, check_option

MASK = "***"
SECRET_ENV = ("LEASELECT_REDIS_PASSWORD", "REDIS_PASSWORD", "LEASELECT_ZK_PASSWORD")

_lock = threading.Lock()
_secrets: set[str] = set()
_urls: dict[str, str] = {}  # a URL as given -> its redacted form


@dataclass(frozen=True, repr=False)
class StoreUrl:
    """A parsed store URL; its ``repr`` is the redacted URL."""

    scheme: str
    hosts: tuple[tuple[str, int | None], ...]
    path: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)
    raw: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        """The URL rebuilt from its fields, every credential replaced by ``***``."""
        user = ""
        if self.username is not None or self.password is not None:
            user = quote(self.username or "", safe="")
            user += f":{MASK}" if self.password is not None else ""
            user += "@"
        hosts = ",".join(_host_text(host, port) for host, port in self.hosts)
        query = "&".join(
            f"{quote_plus(key)}={MASK if key in SECRET_OPTIONS else quote_plus(value, safe='/')}"
            for key, value in self.options.items()
        )
        return f"{self.scheme}://{user}{hosts}{quote(self.path)}" + (f"?{query}" if query else "")

    @overload
    def number(self, key: str, default: float) -> float: ...
    @overload
    def number(self, key: str, default: None = None) -> float | None: ...
    def number(self, key: str, default: float | None = None) -> float | None:
        """The number option ``key`` (seconds, or milliseconds for ``tick_time``), ``default``
        when absent. Checked by the scheme's rule (``url_options``), whether or not ``parse``
        made this URL: a ``ConfigError`` naming the option, as ``parse`` raises it."""
        text = self.options.get(key)
        if text is None:
            return default
        check_option(self.scheme, key, text)
        return float(text)

    def host_list(self, default_port: int) -> list[tuple[str, int]]:
        """Hosts with ``default_port`` filled in."""
        return [(host, port or default_port) for host, port in self.hosts]

    def __repr__(self) -> str:
        return f"StoreUrl({self.redacted!r})"


def _host_text(host: str, port: int | None) -> str:
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


def remember_secret(secret: str | None) -> None:
    """Have ``redact`` hide ``secret`` (in each spelling it may take) from now on."""
    if not secret:
        return
    spellings = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
    }
    with _lock:
        _secrets.update(s for s in spellings if s)


def redact(text: str) -> str:
    """``text`` with every known URL redacted and every known secret replaced by ``***``."""
    with _lock:
        urls = sorted(_urls.items(), key=lambda item: -len(item[0]))
        secrets = set(_secrets)
    secrets.update(v for v in (os.environ.get(k) for k in SECRET_ENV) if v)
    for raw, redacted in urls:
        text = text.replace(raw, redacted)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def parse(url: str) -> StoreUrl:
    """Parse ``scheme://[user[:password]@]host[:port][,host[:port]...][/path][?k=v&...]``.

    The scheme is case-insensitive; the password may hold ``@`` and ``:`` as they are, and
    must percent-encode ``/ ? # %``. Options of a known scheme are checked (``url_options``).
    """
    if not isinstance(url, str):
        raise ConfigError(f"store URL must be a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        head, colon, _ = url.partition(":")  # show a known scheme at most, never a host or user
        shown = f", got scheme {head!r}" if colon and head.lower() in OPTIONS else ""
        raise ConfigError(f"store URL must look like scheme://...{shown}")
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    netloc, after = rest[:end], rest[end:]
    userinfo, at, hostpart = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon:
        remember_secret(password)
        remember_secret(unquote(password))
    if "@" in after:  # perhaps a password with a raw / ? or #: hide what it could be
        remember_secret(rest[: rest.rfind("@")].partition(":")[2])
    path, query = _split_after(after)
    options = _options(query)
    for key in SECRET_OPTIONS & options.keys():
        remember_secret(options[key])
    parsed = StoreUrl(
        scheme=scheme.lower(),
        hosts=_parse_hosts(hostpart, shown_port="@" not in url),
        path=unquote(path),
        username=(unquote(user) or None) if at else None,
        password=unquote(password) if colon else None,
        options=options,
        raw=scheme.lower() + "://" + rest,
    )
    with _lock:
        _urls[url] = _urls[parsed.raw] = parsed.redacted
    try:
        if "\0" in rest.partition("/")[0]:
            raise ConfigError("the host or user part of a store URL must not hold a NUL byte")
        if "#" in rest:
            raise ConfigError(
                "a store URL must not have a #fragment (a '#' in a password, path or option "
                "value is written %23)"
            )
        check(parsed.scheme, parsed.hosts, parsed.path, options)
    except ConfigError as exc:
        raise ConfigError(redact(str(exc))) from None
    return parsed


def check_local(url: StoreUrl) -> None:
    """Refuse what names a file this machine does not have: a missing or unreadable file option
    (``ca=``, ``ssl_certfile=``...), a sqlite path that is a directory. ``connect`` calls it;
    ``parse`` alone reads no file."""
    try:
        check_files(url.scheme, url.path, url.options)
    except ConfigError as exc:
        raise ConfigError(redact(str(exc))) from None


def _split_after(after: str) -> tuple[str, str]:
    """Path and query of what follows the host part (``parse`` refuses a ``#fragment``)."""
    after = after.partition("#")[0]
    path, _, query = after.partition("?")
    return path, query


def _options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise ConfigError(f"store URL option {key!r} is given twice")
        options[key] = value
    return options


def _parse_hosts(hostpart: str, shown_port: bool) -> tuple[tuple[str, int | None], ...]:
    if not hostpart:
        return ()
    items = hostpart.split(",")
    if not all(items):
        raise ConfigError("empty host in the host list of a store URL (a stray ',')")
    return tuple(_split_port(item, shown_port) for item in items)


def _split_port(item: str, shown_port: bool) -> tuple[str, int | None]:
    if item.startswith("["):
        host, bracket, after = item[1:].partition("]")
        if not bracket:
            raise ConfigError("unclosed '[' in a host of a store URL: write [::1]:PORT")
        port_text = after.removeprefix(":")
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        host, port_text = item, ""
    if "[" in host or "]" in host:
        raise ConfigError("a host of a store URL holds '[' or ']' outside an IPv6 [::1]:PORT")
    host = unquote(host)
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        shown = f" {port_text!r}" if shown_port else ""  # after an '@' it may be part of a password
        raise ConfigError(f"bad port{shown} in store URL: a port is a number from 1 to 65535")
    return host, int(port_text)
