"""The summary table printed after every run (Markdown, so it can go into the README as is)."""

from __future__ import annotations

from collections import Counter

from .checker import Report

HEADER = (
    "| store | elections | faults (hit/injected) | writes accepted / rejected | stale accepted "
    "| overlap inside / outside assumptions (ms) | late / missing lost | work after lost "
    "| step-downs in short faults | recovery p50 / p99 (s) | stopped campaigning | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _faults(report: Report) -> str:
    injected = Counter(f.kind for f, _ in report.faults)
    hit = Counter(f.kind for f, h in report.faults if h)
    cells = [f"{kind} {hit[kind]}/{n}" for kind, n in injected.items()]
    cells += [f"{kind}: n/a" for kind in report.not_applicable]
    return "; ".join(cells)


def row(report: Report, strict_tokens: bool) -> str:
    """One store's line."""
    p50, p99 = percentile(report.recoveries, 0.5), percentile(report.recoveries, 0.99)
    rec = "-" if p50 is None or p99 is None else f"{p50:.2f} / {p99:.2f}"
    late = f"{len(report.late_lost)} / {len(report.missing_lost)}"
    if report.late_lost_paused:
        late += f" (+{report.late_lost_paused} while SIGSTOPped)"
    failures = report.failures(strict_tokens)
    verdict = "PASS" if not failures else f"FAIL ({len(failures)})"
    if report.token_regressions and not strict_tokens:
        verdict += f", {len(report.token_regressions)} token regressions (reported)"
    cells = [
        report.store,
        str(report.elections),
        _faults(report),
        f"{report.accepted} / {report.rejected}",
        str(len(report.stale_accepted)),
        f"{report.overlap_inside_ms:.0f} / {report.overlap_outside_ms:.0f}",
        late,
        str(len(report.work_after_lost)),
        str(len(report.stepdowns)),
        rec,
        str(len(report.stalled)),
        verdict,
    ]
    return "| " + " | ".join(cells) + " |"


def table(reports: list[Report]) -> str:
    """The whole table plus the details of every finding."""
    lines = [HEADER]
    lines += [row(r, strict_tokens=True) for r in reports]
    injected = sum(len(r.faults) for r in reports)
    hit = sum(1 for r in reports for _, h in r.faults if h)
    share = 100.0 * hit / injected if injected else 0.0
    lines.append(f"\ntotal: {injected} faults injected, {hit} ({share:.0f} %) hit a live tenure")
    for report in reports:
        details = report.failures(report.store != "redis") + report.overlaps + report.stepdowns
        details += [f"C3 (reported) {t}" for t in report.token_regressions]
        details += [f"refused (expected): {r}" for r in report.refused]
        for line in dict.fromkeys(details):
            lines.append(f"- {report.store}: {line}")
    return "\n".join(lines)
