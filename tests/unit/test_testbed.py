"""The test servers' launcher (``backends.testbed``) without servers: the members and their ports,
the URLs, the settings it reads, and the command lines each kind of server starts with."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.testbed import env_names, topology
from backends.testbed.cli import main
from backends.testbed.envfile import read_env_file, server_env
from backends.testbed.errors import BackendError
from backends.testbed.etcd import SETTINGS, Etcd
from backends.testbed.kind import ServerKind, StartOptions
from backends.testbed.redis import Redis
from backends.testbed.state import port_offset
from backends.testbed.topology import kinds_at, members_at
from backends.testbed.zookeeper import MAIN_CLASS, ZooKeeper


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory of this test's own."""
    monkeypatch.setenv(env_names.STATE_DIR, str(tmp_path))
    return tmp_path


def installed(kind: ServerKind) -> ServerKind:
    if not kind.installed():
        pytest.skip(f"{kind.store} is not installed (python3 backends/launch.py up)")
    return kind


def test_the_members_and_their_ports() -> None:
    members = members_at(0)
    assert list(members) == [
        "redis",
        *(f"etcd-{i}" for i in (1, 2, 3)),
        *(f"zookeeper-{i}" for i in (1, 2, 3)),
    ]
    assert members["redis"].ports == (16379,)
    assert members["etcd-2"].ports == (23792, 23802)
    assert members["zookeeper-3"].ports == (21813, 28883, 38883)


def test_an_offset_shifts_every_port() -> None:
    shifted = members_at(1000)
    for name, member in members_at(0).items():
        assert shifted[name].ports == tuple(port + 1000 for port in member.ports)


def test_each_store_has_its_url_under_the_name_the_tests_read() -> None:
    urls = {kind.url_variable: kind.url() for kind in kinds_at(0).values()}
    assert urls == {
        "LEASELECT_TEST_REDIS_URL": "redis://127.0.0.1:16379/0",
        "LEASELECT_TEST_ETCD_URL": "etcd://127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793",
        "LEASELECT_TEST_ZK_URL": "zk://127.0.0.1:21811,127.0.0.1:21812,127.0.0.1:21813",
    }
    assert urls.keys() == set(env_names.URL_VARIABLES.values())


def test_stores_are_checked_and_kept_in_their_order() -> None:
    assert topology.check_stores(None) == ["redis", "etcd", "zookeeper"]
    assert topology.check_stores(["zookeeper", "redis"]) == ["redis", "zookeeper"]
    with pytest.raises(BackendError, match="unknown store 'mysql': one of redis, etcd, zookeeper"):
        topology.check_stores(["mysql"])
    with pytest.raises(BackendError, match="unknown member 'etcd-4'"):
        topology.get_member("etcd-4")


def test_the_port_offset_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_names.PORT_OFFSET, "")
    assert port_offset() == 0
    monkeypatch.setenv(env_names.PORT_OFFSET, "abc")
    with pytest.raises(BackendError, match="must be an integer, not 'abc'"):
        port_offset()
    monkeypatch.setenv(env_names.PORT_OFFSET, "30000")
    with pytest.raises(BackendError, match=r"must be in 0\.\.20000, not 30000"):
        port_offset()


def test_a_newer_server_has_data_of_its_own(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etcd = Etcd(0)
    monkeypatch.delenv(env_names.ETCD_VERSION, raising=False)
    assert etcd.version() is None
    assert etcd.data_dir(etcd.members[0]) == state / "etcd-1" / "data"
    monkeypatch.setenv(env_names.ETCD_VERSION, "3.5")
    assert etcd.data_dir(etcd.members[0]) == state / "etcd-1" / "data-3.5"
    monkeypatch.setenv(env_names.ETCD_VERSION, "system")
    assert etcd.version() is None
    assert Redis(0).version() is None


def test_env_files_are_parsed(tmp_path: Path) -> None:
    path = tmp_path / "settings.env"
    path.write_text('# a comment\n\nA=1\nB = "two words"\n')
    assert read_env_file(path) == {"A": "1", "B": "two words"}
    path.write_text("A=1\nno equals sign\n")
    with pytest.raises(BackendError, match=r"settings\.env:2: expected KEY=VALUE"):
        read_env_file(path)


def test_servers_get_no_etcd_variables_but_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETCD_NAME", "stray")
    env = server_env({"ETCD_DEBUG": "true"})
    assert "ETCD_NAME" not in env
    assert env["ETCD_DEBUG"] == "true"


def test_redis_persistence_picks_the_append_only_policy(state: Path) -> None:
    redis = installed(Redis(0))
    member = redis.members[0]
    argv, _ = redis.command(member, StartOptions("always", ("--maxmemory", "1mb")))
    assert argv[-8:] == [
        "--port",
        "16379",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--maxmemory",
        "1mb",
    ]
    (redis.data_dir(member) / "appendonly.aof").write_text("kept\n")
    argv, _ = redis.command(member, StartOptions("off"))
    assert argv[-2:] == ["--appendonly", "no"]
    assert list(redis.data_dir(member).iterdir()) == []  # starts empty
    with pytest.raises(BackendError, match="redis persistence 'sometimes'"):
        redis.command(member, StartOptions("sometimes"))


def test_an_etcd_member_knows_the_whole_cluster(state: Path) -> None:
    etcd = installed(Etcd(0))
    argv, env = etcd.command(etcd.members[1], StartOptions())
    assert "--name=etcd-2" in argv
    assert "--listen-peer-urls=http://127.0.0.1:23802" in argv
    cluster = ",".join(f"etcd-{i}=http://127.0.0.1:2380{i}" for i in (1, 2, 3))
    assert f"--initial-cluster={cluster}" in argv
    assert read_env_file(SETTINGS).items() <= env.items()
    assert (etcd.data_dir(etcd.members[1]).stat().st_mode & 0o777) == 0o700


def test_a_zookeeper_member_gets_its_config_and_id(state: Path) -> None:
    zookeeper = installed(ZooKeeper(0))
    member = zookeeper.members[2]
    argv, _ = zookeeper.command(member, StartOptions())
    config = state / "zookeeper-3" / "zoo.cfg"
    assert argv[-2:] == [MAIN_CLASS, str(config)]
    text = config.read_text()
    assert "clientPort=21813\n" in text
    assert "server.1=127.0.0.1:28881:38881\n" in text
    assert (zookeeper.data_dir(member) / "myid").read_text() == "3\n"
    assert zookeeper.log_files(member)[1] == state / "zookeeper-3" / "zookeeper.log"


def test_the_env_verb_prints_the_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "redis"]) == 0
    url = topology.KINDS["redis"].url()
    assert capsys.readouterr().out == f"LEASELECT_TEST_REDIS_URL={url}\nLEASELECT_URL={url}\n"
    assert main(["status", "mysql"]) == 1
    assert "launch.py: error: unknown store 'mysql'" in capsys.readouterr().err
