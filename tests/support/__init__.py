"""Helpers shared by the test packages: stores, private servers, processes, proxies, waits.

Nothing here is a test but the proxy's own (test_proxy.py); test modules import from here, never
from one another.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: where ``python -m tests...`` runs
