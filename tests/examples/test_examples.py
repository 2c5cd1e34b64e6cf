"""Every example in examples/ runs as a script, on the embedded store and on a real one."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pytest

import leaselect
from tests.support.jobs import JobStore

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_context_manager(job_store: JobStore) -> None:
    out = run(str(EXAMPLES / "context_manager.py"), job_store.url, "ex-context")
    token = re.search(r"leading ex-context with token (\d+)", out)
    assert token is not None, out
    assert f"step 2 done with token {token[1]}" in out and out.endswith("released\n")


def test_asyncio_service(job_store: JobStore) -> None:
    out = run(str(EXAMPLES / "asyncio_service.py"), job_store.url, "2")
    tokens = [int(t) for t in re.findall(r"elected with token (\d+)", out)]
    assert len(tokens) == 2 and tokens[0] < tokens[1], out
    assert out.count("working: beat 2") == 2 and "leader now: None" in out


def test_apscheduler_app_only_the_leader_ticks(job_store: JobStore) -> None:
    leaselect.connect(
        job_store.url
    ).close()  # create the store before two processes race to open it
    script = str(EXAMPLES / "apscheduler_app.py")
    command = [sys.executable, script, job_store.url]
    first = subprocess.Popen([*command, "2"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen([*command, "5"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=30)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0
    ticks = [re.findall(r"tick fire=(\S+) token=(\d+) pid=(\d+)", out) for out in outputs]
    fires = Counter(fire for lines in ticks for fire, _, _ in lines)
    assert fires and max(fires.values()) == 1, f"a fire time ran twice: {fires}"
    # the first copy leads (or the second, if it won the start); after the first one
    # stops, the second one must run the jobs
    assert ticks[1], outputs
    assert len({pid for lines in ticks for _, _, pid in lines}) == 2 or not ticks[0]


def test_cron_with_cli_hands_over(job_store: JobStore, tmp_path: Path) -> None:
    if importlib.util.find_spec("leaselect.cli.main") is None:
        pytest.skip("the leaselect CLI (leaselect/cli/main.py) does not exist yet")
    leaselect.connect(job_store.url).close()
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "LEASELECT_URL": job_store.url,
        "INTERVAL": "0.2",
        "TTL": str(max(2.0, job_store.ttl)),
        "PATH": f"{bindir}:{os.environ['PATH']}",
    }
    bash = shutil.which("bash")
    assert bash is not None
    outs = [(tmp_path / f"{i}.out").open("w+") for i in range(2)]
    copies = [
        subprocess.Popen([bash, str(EXAMPLES / "cron_with_cli.sh")], cwd=ROOT, env=env, stdout=out)
        for out in outs
    ]
    try:
        first = wait_for_output(outs, 15)
        copies[first].terminate()  # the leader stops: the other copy takes over
        copies[first].wait(15)
        second = wait_for_output([outs[1 - first]], 15)
        assert second == 0
        copies[1 - first].terminate()
        copies[1 - first].wait(15)
    finally:
        for copy in copies:
            copy.kill()
            copy.wait()
    tokens = [set(re.findall(r"fencing token (\d+)", Path(out.name).read_text())) for out in outs]
    assert len(tokens[first]) == 1 and len(tokens[1 - first]) == 1, tokens
    assert int(min(tokens[1 - first])) > int(min(tokens[first]))


def wait_for_output(outs: Sequence[IO[str]], timeout: float) -> int:
    """The index of the first file that has a line (a test helper: polls the files)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        for index, out in enumerate(outs):
            if Path(out.name).read_text().count("\n") >= 2:
                return index
        time.sleep(0.05)
    raise AssertionError("no copy ran the command")
