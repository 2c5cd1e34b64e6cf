"""``import leaselect`` stays cheap: asyncio (most of its import time) and the store clients
are imported only when something needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import leaselect

HEAVY = ("asyncio", "kazoo", "redis", "etcd3gw", "apscheduler", "celery")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules loaded in a fresh interpreter after running ``code``."""
    root = str(Path(leaselect.__file__).resolve().parent.parent)  # this tree's copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    listing = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\n{listing}"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return [name for name in loaded if name in HEAVY]


def test_import_leaselect_does_not_import_asyncio_or_a_store_client() -> None:
    assert _loaded_after("import leaselect") == []


def test_async_elector_is_imported_on_first_use() -> None:
    assert _loaded_after("from leaselect import AsyncElector") == ["asyncio"]
    assert _loaded_after("import leaselect; leaselect.AsyncElector") == ["asyncio"]
