"""docker-compose.yml against the Compose Specification's JSON schema, and against the
launcher: the same client ports, and configs that exist where the services read them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from backends.testbed.topology import members_at

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_a_broken_compose_file_is_caught_by_the_schema() -> None:
    """The check can fail: a misspelt key is an error."""
    broken = compose()
    broken["services"]["redis"]["healthcheck"]["intervall"] = "2s"
    schema = json.loads(SCHEMA.read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_each_service_is_a_launcher_member_on_the_same_ports() -> None:
    members = members_at(0)  # the launcher's members with no port offset
    services = compose()["services"]
    assert set(services) == set(members)
    for name, service in services.items():
        member = members[name]
        assert service["ports"] == [f"127.0.0.1:{member.port}:{member.port}"], name
        command = " ".join(map(str, service.get("command", [])))
        for peer in member.peer_ports if name.startswith("etcd") else ():
            assert f":{peer}" in command, (name, peer)
        environment = service.get("environment", {})
        if name.startswith("zookeeper"):
            assert environment["ZK_CLIENT_PORT"] == str(member.port)
            assert environment["ZOO_MY_ID"] == str(member.index)


def test_mounted_configs_exist() -> None:
    text = COMPOSE.read_text()
    paths = re.findall(r"/backends/([\w./-]+)", text)
    assert paths
    for path in paths:
        assert (ROOT / "backends" / path).is_file(), path
