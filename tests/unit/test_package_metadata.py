"""The published metadata: an SPDX licence whose text ships, classifiers, the typed marker."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def test_the_licence_is_an_spdx_expression_and_its_text_ships() -> None:
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_classifiers_say_what_is_tested_and_that_the_package_is_typed() -> None:
    classifiers = _project()["classifiers"]
    assert isinstance(classifiers, list)
    for expected in (
        "Operating System :: POSIX :: Linux",
        "Typing :: Typed",
        "Programming Language :: Python :: 3 :: Only",
    ):
        assert expected in classifiers
    assert (ROOT / "leaselect" / "py.typed").exists()
