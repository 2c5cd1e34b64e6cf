"""Print the fault-injection summary table at the end of the pytest run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from .test_faults import SUMMARIES

    if not SUMMARIES:
        return
    terminalreporter.section("fault-injection summary")
    terminalreporter.write_line(SUMMARIES[-1].read_text())
    terminalreporter.write_line(f"(table and logs: {SUMMARIES[-1].parent})")
