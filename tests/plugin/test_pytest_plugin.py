"""leaselect's pytest plugin, run as a user runs it: pytester runs examples/pytest_leader_only.py
(a user's tests of leader-only code) in a pytest of its own, on the embedded store and on every
real store the test servers offer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.stores import STORES, configured_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pytest_leader_only.py"
REAL = [kind for kind in ("redis", "etcd", "zookeeper") if configured_url(STORES[kind])]

pytestmark = pytest.mark.timeout(180)


def run_example(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user_code=EXAMPLE.read_text())
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_fixtures_work_on_a_fresh_embedded_store(pytester: pytest.Pytester) -> None:
    result = run_example(pytester)
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize("kind", REAL)
def test_the_fixtures_work_on_a_real_store(pytester: pytest.Pytester, kind: str) -> None:
    url = configured_url(STORES[kind])
    assert url is not None
    run_example(pytester, f"--leaselect-url={url}").assert_outcomes(passed=5)


def test_the_url_comes_from_the_environment_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/from-env.db"
    monkeypatch.setenv("LEASELECT_TEST_URL", url)
    pytester.makepyfile(
        test_env=f"""
def test_url(leaselect_url):
    assert leaselect_url == {url!r}
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_bad_url_is_reported_with_leaselects_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="def test_url(leaselect_url):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--leaselect-url=nope")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ConfigError: store URL must look like scheme://...*"])
