"""Bad store URLs: one ConfigError naming the parameter, never a raw ValueError from deep inside,
never a silent default; unknown options refused with the list of valid ones."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import leaselect
from leaselect import ConfigError
from leaselect.url_options import OPTIONS
from leaselect.urls import check_local, parse


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///tmp/a\0b.db", "path .*NUL"),
        ("sqlite:///tmp/x.db?busy_timeout=abc", "busy_timeout= must be a number of seconds"),
        ("sqlite:///tmp/x.db?busy_timeout=-1", "busy_timeout= must be a number of seconds"),
        ("sqlite:///tmp/x.db?busy_timeout=nan", "busy_timeout= must be a number of seconds"),
        ("sqlite:///tmp/x.db?busy_timeout=1e300", "busy_timeout= must be a number of seconds"),
        ("sqlite:///tmp/x.db?busy_timeout=inf", "busy_timeout= must be a number of seconds"),
        ("sqlite:///tmp/x.db?busy_timeout=", "busy_timeout= must be a number of seconds"),
        (
            "sqlite:///tmp/x.db?access=everyone",
            r"access= must be one of \['owner', 'group', 'all'\]",
        ),
        ("redis://127.0.0.1:6379/abc", "db number"),
        ("redis://127.0.0.1:6379/1?db=2", "two different dbs"),
        ("redis://127.0.0.1:6379/0?db=x", "db= must be an integer"),
        ("redis://", "needs a host"),
        ("redis:///0", "needs a host"),
        ("rediss://:long-enough-3@/0", "needs a host"),
        ("unix://", "socket's path"),
        ("unix:///", "socket's path"),
        ("etcd://", "needs a host"),
        ("zk://", "needs a host"),
        ("redis://h:6379/0?timeout=0", "timeout= must be a number of seconds"),
        ("redis://h:6379/0?timeout=inf", "timeout= must be a number of seconds"),
        ("etcd://h:2379?timeout=nan", "timeout= must be a number of seconds"),
        ("zk://h:2181?connect_timeout=inf", "connect_timeout= must be a number of seconds"),
        ("zks://h:2181?verify=false", r"verify= must be one of \['0', '1'\]"),
        ("rediss://h:6379/0?ssl_cert_reqs=never", "ssl_cert_reqs= must be one of"),
        ("redis://h:6379/0?timeout=1&timeout=2", "'timeout' is given twice"),
        ("redis://h:6379/0?socket_timeout=5", "leaselect sets it from timeout="),
        ("redis://h:6379/0?retry_on_timeout=true", "hidden retry"),
        ("redis://h:6379/0?ssl_ca_certs=/x", "unknown option 'ssl_ca_certs' in a redis://"),
        ("etcd://h:2379?ca=/x.pem", "unknown option 'ca' in a etcd://"),
        ("zk://h:2181?verify=0", "unknown option 'verify' in a zk://"),
    ],
)
def test_bad_urls_are_one_config_error_naming_the_parameter(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        leaselect.connect(url)


@pytest.mark.parametrize(
    ("scheme", "url"),
    [
        ("sqlite", "sqlite:///tmp/x.db?timout=5"),
        ("redis", "redis://h:6379/0?timout=5"),
        ("rediss", "rediss://h:6379/0?timout=5"),
        ("unix", "unix:///tmp/r.sock?timout=5"),
        ("etcd", "etcd://h:2379?timout=5"),
        ("etcds", "etcds://h:2379?timout=5"),
        ("zk", "zk://h:2181?timout=5"),
        ("zks", "zks://h:2181?timout=5"),
    ],
)
def test_unknown_options_are_refused_with_the_valid_list(scheme: str, url: str) -> None:
    with pytest.raises(ConfigError) as info:
        leaselect.connect(url)
    text = str(info.value)
    assert f"unknown option 'timout' in a {scheme}:// URL" in text
    assert text.endswith("valid options: " + ", ".join(sorted(OPTIONS[scheme])))


def test_the_scheme_is_case_insensitive_all_the_way_to_the_client() -> None:
    parsed = parse("REDIS://127.0.0.1:1/0")
    assert parsed.scheme == "redis" and parsed.raw == "redis://127.0.0.1:1/0"
    backend = leaselect.connect("REDIS://127.0.0.1:1/0")
    backend.close()


def test_a_redis_path_db_is_read() -> None:
    assert parse("redis://h:6379/5").path == "/5"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///tmp/x.db?busy_timeout=0",
        "sqlite:///tmp/x.db?busy_timeout=2.5",
        "redis://h:6379/3?db=3&prefix=app:&timeout=1.5&protocol=3",
        "rediss://u:long-enough-2@h:6379/0?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem&ssl_check_hostname=true",
        "unix:///run/redis.sock?db=2&password=long-enough-1",
        "etcds://h1:2379,h2?ca=/ca.pem&cert=/c.pem&key=/k.pem&prefix=/app&timeout=2",
        "zks://h:2181/chroot?root=/x&connect_timeout=5&verify=1&ca=/ca.pem",
    ],
)
def test_good_urls_pass(url: str) -> None:
    parse(url)


def test_every_option_an_adapter_reads_is_valid() -> None:
    """The lists follow the adapters (grep leaselect/backends for ``options``)."""
    assert set(OPTIONS["sqlite"]) == {"busy_timeout", "access"}
    sqlite_adapter = importlib.import_module("leaselect.backends.sqlite.backend")
    sqlite_options = getattr(sqlite_adapter, "OPTIONS", None)
    if sqlite_options is not None:  # the adapter lists its options itself
        assert set(OPTIONS["sqlite"]) == set(sqlite_options)
    assert (
        {"prefix", "timeout", "allow_eviction"} <= set(OPTIONS["redis"]) <= set(OPTIONS["rediss"])
    )
    assert set(OPTIONS["etcd"]) == {"prefix", "timeout"}
    assert set(OPTIONS["etcds"]) == {"prefix", "timeout", "ca", "cert", "key"}
    assert set(OPTIONS["zk"]) == {"root", "connect_timeout", "tick_time"}
    zks = {"root", "connect_timeout", "tick_time", "ca", "cert", "key", "verify"}
    assert set(OPTIONS["zks"]) == zks


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("etcd://[::1", r"unclosed '\['"),
        ("etcd://[::1:2379", r"unclosed '\['"),
        ("zk://[::1/x", r"unclosed '\['"),
        ("etcd://h]:2379", r"'\[' or '\]'"),
        ("etcd://127.0.0.1:2379,", "empty host"),
        ("etcd://,127.0.0.1:2379", "empty host"),
        ("zk://127.0.0.1:2181,,127.0.0.1:2182/x", "empty host"),
        ("redis://h:6379,/0", "empty host"),
        ("redis://127.0.0.1:6379/0#fragment", "#fragment"),
        ("etcd://127.0.0.1:2379#x", "#fragment"),
        ("zk://127.0.0.1:2181/x#", "#fragment"),
        ("sqlite:///tmp/x.db#frag", "#fragment"),
        ("redis://127.0.0.1:6379/0?prefix=a#b", "#fragment"),
        ("zk://127.0.0.1:2181/bad//chroot", "chroot .*empty segment"),
        ("zk://127.0.0.1:2181/chroot/", "chroot .*end in '/'"),
        ("zk://127.0.0.1:2181/a/./b", r"chroot .*'\.' or '\.\.'"),
        ("zk://127.0.0.1:2181/a/..", r"chroot .*'\.' or '\.\.'"),
        ("zks://127.0.0.1:2181/a%01b", "chroot .*control character"),
        ("zk://127.0.0.1:2181/a%7Fb", "chroot .*control character"),
        ("zk://127.0.0.1:2181?root=/a//b", "root= .*empty segment"),
        ("zk://127.0.0.1:2181?root=/a/./b", r"root= .*'\.' or '\.\.'"),
        ("sqlite:///tmp/", "sqlite:// URL .*directory"),
        ("sqlite:///tmp/nonexistent-dir/", "sqlite:// URL .*directory"),
    ],
)
def test_malformed_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        leaselect.connect(url).close()


def test_a_sqlite_url_naming_an_existing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sqlite:// URL .*directory"):
        leaselect.connect(f"sqlite://{tmp_path}").close()


FILE_OPTIONS = [
    ("etcds", "ca"),
    ("etcds", "cert"),
    ("etcds", "key"),
    ("zks", "ca"),
    ("zks", "cert"),
    ("zks", "key"),
    ("rediss", "ssl_ca_certs"),
    ("rediss", "ssl_certfile"),
    ("rediss", "ssl_keyfile"),
]
HOSTS = {"etcds": "127.0.0.1:1", "zks": "127.0.0.1:1", "rediss": "127.0.0.1:1/0"}


@pytest.mark.parametrize(("scheme", "option"), FILE_OPTIONS)
def test_a_missing_file_option_is_a_config_error_naming_it(scheme: str, option: str) -> None:
    url = f"{scheme}://{HOSTS[scheme]}?{option}=/nonexistent/{option}.pem"
    with pytest.raises(ConfigError, match=f"option {option}= names no readable file"):
        leaselect.connect(url).close()


@pytest.mark.parametrize(("scheme", "option"), FILE_OPTIONS)
def test_a_directory_as_file_option_is_a_config_error_naming_it(
    scheme: str, option: str, tmp_path: Path
) -> None:
    url = f"{scheme}://{HOSTS[scheme]}?{option}={tmp_path}"
    with pytest.raises(ConfigError, match=f"option {option}= names no readable file"):
        leaselect.connect(url).close()


def test_a_missing_ca_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="option ssl_ca_path= names no readable directory"):
        leaselect.connect(f"rediss://127.0.0.1:1/0?ssl_ca_path={tmp_path / 'none'}").close()


@pytest.mark.parametrize(
    "url",
    [
        "etcd://[::1]:2379",
        "etcd://[::1]",
        "zk://127.0.0.1:2181/",
        "zk://127.0.0.1:2181/a/b.c/..d",
        "zk://127.0.0.1:2181?root=leaselect/",
    ],
)
def test_well_formed_hosts_and_paths_pass(url: str) -> None:
    parse(url)


def test_existing_files_pass(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("not checked here\n")
    parsed = parse(f"zks://h:2181?ca={pem}&cert={pem}&key={pem}")
    check_local(parsed)
    check_local(parse(f"rediss://h:6379/0?ssl_ca_path={tmp_path}&ssl_ca_certs={pem}"))
    check_local(parse(f"sqlite://{tmp_path}/x.db"))
