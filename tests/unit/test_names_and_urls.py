"""Input validation at the edge: names, identities, URLs, redaction."""

from __future__ import annotations

import pytest

import leaselect
from leaselect import ConfigError
from leaselect.names import validate_identity, validate_metadata, validate_name
from leaselect.registry import _Entry, _require_client
from leaselect.urls import parse, redact


@pytest.mark.parametrize("good", ["a", "job-1", "A.b_c-9", "x" * 128, "..a", "a.."])
def test_good_names(good: str) -> None:
    assert validate_name(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/a", "a\\b", "x" * 129, "é", "{a}", 5])
def test_bad_names_name_the_rule(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"A-Za-z0-9\._-"):
        validate_name(bad)


def test_default_identity_says_where_the_leader_runs() -> None:
    host, pid, suffix = validate_identity(None).split(":")
    assert host and pid.isdigit() and len(suffix) == 6


def test_metadata_is_bounded() -> None:
    assert validate_metadata(None) == ""
    with pytest.raises(ConfigError, match="1024"):
        validate_metadata("x" * 1025)


def test_parse_multi_host_url_with_credentials_and_options() -> None:
    url = parse("etcds://alice:s3cr%40t@h1:2379,h2,[::1]:2381/pre/fix?ca=/x.pem")
    assert url.hosts == (("h1", 2379), ("h2", None), ("::1", 2381))
    assert (url.username, url.password, url.path) == ("alice", "s3cr@t", "/pre/fix")
    assert url.options == {"ca": "/x.pem"}
    assert "s3cr" not in repr(url) and "s3cr" not in url.redacted


def test_redact_hides_passwords_of_parsed_urls_anywhere_in_text() -> None:
    parse("redis://user:hunter2@db:6379/0")
    parse("zk://u:pw-zk@h:1/x")
    text = "failed to reach redis://user:hunter2@db:6379/0 and zk://u:pw-zk@h:1/x (pw-zk)"
    assert redact(text) == "failed to reach redis://user:***@db:6379/0 and zk://u:***@h:1/x (***)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:6379", "scheme://"),
        ("mongo://h/db", "unknown store scheme"),
        ("redis://h:99999/0", "bad port"),
        ("sqlite://relative.db", "three slashes"),
    ],
)
def test_bad_urls_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        leaselect.connect(url)


def test_bad_url_errors_never_show_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        leaselect.connect("mongo://u:topsecret@h/db")
    assert "topsecret" not in str(info.value)


def test_a_missing_client_names_the_extra_to_install() -> None:
    entry = _Entry("leaselect.backends.nope", "Nope", "nope", "surely_not_installed_client")
    with pytest.raises(ConfigError, match=r"pip install 'leaselect\[nope\]'"):
        _require_client(entry)


@pytest.mark.parametrize(
    ("url", "path", "options"),
    [
        ("zk://a:1?root=/x", "", {"root": "/x"}),
        ("zks://h?ca=/ca.pem&verify=0", "", {"ca": "/ca.pem", "verify": "0"}),
        ("zk://a:1/chroot/sub?root=/x", "/chroot/sub", {"root": "/x"}),
        ("sqlite:///tmp/x.db?busy_timeout=3", "/tmp/x.db", {"busy_timeout": "3"}),
    ],
)
def test_query_right_after_the_host_or_path(url: str, path: str, options: dict[str, str]) -> None:
    parsed = parse(url)
    assert (parsed.path, parsed.options) == (path, options)
