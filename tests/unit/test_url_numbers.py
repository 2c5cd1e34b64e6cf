"""``StoreUrl.number``: the one reader of number options, checked by the scheme's rule even for
a URL ``parse`` did not make, with the error ``parse`` gives (naming the option)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leaselect import ConfigError
from leaselect.backends.etcd import EtcdBackend
from leaselect.backends.redis import RedisBackend
from leaselect.backends.sqlite import SqliteBackend
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.backends.zookeeper.client import ClientConfig
from leaselect.urls import StoreUrl, parse


def unparsed(scheme: str, path: str = "", **options: str) -> StoreUrl:
    """A URL built without ``parse`` (so without its checks), as a caller of ``from_url`` may."""
    hosts: tuple[tuple[str, int | None], ...] = () if scheme == "sqlite" else (("h", None),)
    return StoreUrl(scheme, hosts, path, options=options, raw=f"{scheme}://h{path}")


def test_number_reads_the_option_or_the_default() -> None:
    url = parse("zk://h:2181?connect_timeout=2.5&tick_time=200")
    assert url.number("connect_timeout", 10.0) == 2.5
    assert url.number("tick_time") == 200.0
    assert parse("zk://h:2181").number("connect_timeout", 10.0) == 10.0
    assert parse("zk://h:2181").number("tick_time") is None


@pytest.mark.parametrize(
    ("url", "key", "message"),
    [
        (unparsed("etcd", timeout="x"), "timeout", "timeout= must be a number of seconds"),
        (unparsed("redis", timeout="0"), "timeout", "timeout= must be a number of seconds"),
        (unparsed("sqlite", busy_timeout="-1"), "busy_timeout", "busy_timeout= must be a"),
        (unparsed("zk", tick_time="0.5"), "tick_time", "tick_time= must be an integer"),
        (unparsed("zk", timout="1"), "timout", "unknown option 'timout' in a zk:// URL"),
    ],
)
def test_a_bad_number_is_a_config_error_naming_the_option(
    url: StoreUrl, key: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        url.number(key)


@pytest.mark.parametrize(
    ("build", "url", "message"),
    [
        (EtcdBackend.from_url, unparsed("etcd", timeout="nan"), "timeout= must be a number"),
        (RedisBackend.from_url, unparsed("redis", timeout="inf"), "timeout= must be a number"),
        (
            SqliteBackend.from_url,
            unparsed("sqlite", "/tmp/x.db", busy_timeout="1e300"),
            "busy_timeout= must be a number",
        ),
        (
            ClientConfig.from_url,
            unparsed("zk", connect_timeout="-2"),
            "connect_timeout= must be a number",
        ),
        (ClientConfig.from_url, unparsed("zk", tick_time="x"), "tick_time= must be an integer"),
    ],
)
def test_every_store_reads_its_numbers_through_it(
    build: Callable[[StoreUrl], object], url: StoreUrl, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(url)


def test_the_stores_get_the_numbers() -> None:
    etcd = EtcdBackend.from_url(parse("etcd://127.0.0.1:1?timeout=1.5"))
    zookeeper = ZooKeeperBackend.from_url(parse("zk://127.0.0.1:1?connect_timeout=3&tick_time=200"))
    redis = RedisBackend.from_url(parse("redis://127.0.0.1:1/0?timeout=0.5"))
    try:
        assert etcd.transport.budget == 1.5
        assert zookeeper.conn.config.connect_timeout == 3.0
        assert zookeeper.conn.config.tick == 0.2
        assert redis.conf.timeout == 0.5
    finally:
        etcd.close()
        zookeeper.close()
        redis.close()
