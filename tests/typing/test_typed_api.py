"""mypy --strict rejects each misuse in misuse.py (a misspelt option, a wrong type) on the
line that makes it, and nothing else: the wrappers' options are typed, not ``**Any``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

MISUSE = Path(__file__).with_name("misuse.py")
ROOT = MISUSE.parents[2]

pytestmark = pytest.mark.timeout(180)


def test_mypy_strict_rejects_each_misuse_and_nothing_else() -> None:
    marked = {
        number
        for number, line in enumerate(MISUSE.read_text().splitlines(), start=1)
        if line.endswith("# error")
    }
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(MISUSE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    flagged = {
        int(match.group(1)) for match in re.finditer(r"misuse\.py:(\d+): error", done.stdout)
    }
    assert marked and flagged == marked, done.stdout
