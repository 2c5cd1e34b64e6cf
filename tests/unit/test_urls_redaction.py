"""Redaction from parsed URL fields: passwords with ``@ : / # % ?``, spaces and non-ASCII, in the
user part and in credential-bearing options, on every scheme, hidden from reprs, messages and
logs in every spelling (as given, percent-encoded, escaped)."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import pytest

import leaselect
from leaselect.urls import parse, redact

PASSWORDS = [
    "p@ss@w",
    "pa:ss:w",
    "p/ss/w",
    "p#ss#w",
    "p%ss%w",
    "p?ss?w",
    "pa ss w",
    "pässwörd€",
    "密码密码",
]
SCHEMES = {
    "redis": "redis://{user}@127.0.0.1:1/0",
    "rediss": "rediss://{user}@127.0.0.1:1/0",
    "unix": "unix://{user}@/tmp/none.sock",
    "etcd": "etcd://{user}@127.0.0.1:1",
    "etcds": "etcds://{user}@127.0.0.1:1",
    "zk": "zk://{user}@127.0.0.1:1",
    "zks": "zks://{user}@127.0.0.1:1",
}


def spellings(secret: str) -> list[str]:
    """Every way ``secret`` could show up in text."""
    found = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    found.add(secret.encode("unicode_escape").decode())
    found.add(repr(secret.encode())[2:-1])
    return sorted(found)


def assert_hidden(secret: str, text: str) -> None:
    for spelling in spellings(secret):
        assert spelling not in text, f"{spelling!r} shown in {text!r}"


@pytest.mark.parametrize("secret", PASSWORDS)
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_user_part_password_is_parsed_whole_and_hidden(scheme: str, secret: str) -> None:
    url = SCHEMES[scheme].format(user=f"alice:{quote(secret, safe='')}")
    parsed = parse(url)
    assert (parsed.username, parsed.password) == ("alice", secret)
    assert parsed.redacted.startswith(f"{scheme}://alice:***@")
    for text in (repr(parsed), parsed.redacted, redact(f"failed: {url} ({secret!r}, {secret})")):
        assert_hidden(secret, text)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_raw_at_sign_in_the_password_is_hidden_whole(scheme: str) -> None:
    url = SCHEMES[scheme].format(user="user:p@ss")
    parsed = parse(url)
    assert parsed.password == "p@ss"
    assert redact(f"cannot reach {url}") == f"cannot reach {parsed.redacted}"
    assert "ss@" not in parsed.redacted and "p@ss" not in redact(url)


@pytest.mark.parametrize("secret", PASSWORDS)
@pytest.mark.parametrize("option", ["password", "ssl_password"])
def test_credential_options_are_hidden(option: str, secret: str) -> None:
    url = f"rediss://127.0.0.1:1/0?{option}={quote_plus(secret)}&prefix=x:"
    parsed = parse(url)
    assert parsed.options[option] == secret
    assert f"{option}=***" in parsed.redacted and "prefix=x" in parsed.redacted
    for text in (repr(parsed), parsed.redacted, redact(f"error {url}: {secret}")):
        assert_hidden(secret, text)


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix", "etcd", "etcds", "zk", "zks"])
def test_backend_reprs_hide_the_password(scheme: str) -> None:
    secret = "s3cr:t@/#?% wörd"
    url = SCHEMES[scheme].format(user=f"alice:{quote(secret, safe='')}")
    if scheme in ("etcds",):
        url += "?ca=/dev/null"
    try:
        backend = leaselect.connect(url)
    except leaselect.LeaselectError as exc:  # e.g. a CA file that is no certificate
        assert_hidden(secret, str(exc))
        return
    try:
        assert_hidden(secret, repr(backend))
    finally:
        backend.close()


def test_redis_password_option_is_hidden_in_the_backend_repr() -> None:
    backend = leaselect.connect("redis://127.0.0.1:1/0?password=hunter2%40x")
    try:
        assert_hidden("hunter2@x", repr(backend))
    finally:
        backend.close()


def test_a_password_with_a_raw_slash_is_never_echoed() -> None:
    with pytest.raises(leaselect.ConfigError) as info:
        parse("redis://u:pa/ss@h:6379/0")
    assert "pa" not in str(info.value).replace("path", "") and "ss" not in str(info.value)


def test_passwords_from_the_environment_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "env-secret-42")
    assert redact("AUTH env-secret-42 failed") == "AUTH *** failed"
