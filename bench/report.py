"""The Markdown report of one benchmark run: machine, command, and medians side by side.

Every figure is the median over the run's repetitions; the raw per-run numbers are written next
to the report as JSON so nothing is hidden behind a median.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.workloads import Outcome

ROOT = Path(__file__).resolve().parent.parent
TITLES = {
    "read": "read by id, 16 clients",
    "search-vitals": "Observation?patient=X&category=vital-signs&_count=50",
    "search-code": "Observation?code=loinc\\|8867-4&date=ge2015-01-01&_count=100&_sort=-date"
    " (no match in Synthea data)",
    "search-code-weight": "same, code=loinc\\|29463-7 (body weight: many matches)",
    "everything": "Patient/{id}/$everything (≈1,050 resources)",
}
TARGETS = {
    "read": "≥ 2,000 req/s, p99 ≤ 15 ms, > peer",
    "search-vitals": "≥ 600 req/s, p50 ≤ 10 ms, p99 ≤ 40 ms, > peer",
    "search-code": "p50 ≤ 50 ms",
    "search-code-weight": "p50 ≤ 50 ms",
    "everything": "p50 ≤ 150 ms",
    "ingest": "≥ 1,500 resources/s, > peer",
    "load": "(bulk load of the data set)",
    "memory": "flat while loading ≥ 100,000 resources",
}


def machine() -> str:
    """One line describing this machine and the software measured."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, load average at start {load}, commit {commit}"
    )


def median(outcome: Outcome, key: str) -> float | None:
    values = [run[key] for run in outcome.runs if key in run]
    return statistics.median(values) if values else None


def _cell(outcome: Outcome | None, workload: str) -> str:
    if outcome is None:
        return "not run"
    if outcome.unavailable:
        return f"n/a ({outcome.unavailable[:80]})"
    if workload == "ingest" or workload == "load":
        rate, failed = median(outcome, "resources_per_s"), median(outcome, "failed_bundles")
        extra = f", {failed:.0f} bundles failed" if failed else ""
        return f"{rate:,.0f} resources/s{extra}" if rate is not None else "-"
    if workload == "memory":
        r = outcome.runs[0]
        return (
            f"{r['start_mib']:.0f} → warm {r['warm_mib']:.0f} → peak {r['peak_mib']:.0f} → "
            f"end {r['end_mib']:.0f} MiB (all processes {r['total_end_mib']:.0f} MiB)"
        )
    rps, p50, p99 = (median(outcome, k) for k in ("rps", "p50_ms", "p99_ms"))
    if not rps:
        return "no request finished within the run (wrk timeout 60 s)"
    errors = median(outcome, "errors") or 0
    shown = f"{rps:,.0f}" if rps >= 10 else f"{rps:.2f}"
    text = f"{shown} req/s, p50 {p50:,.1f} ms, p99 {p99:,.1f} ms"
    return text + (f", {errors:.0f} errors" if errors else "")


def table(outcomes: list[Outcome], servers: list[str]) -> str:
    """Rows per workload, one column per server, plus the target."""
    by_key = {(o.workload, o.server): o for o in outcomes}
    order = [
        "read",
        "search-vitals",
        "search-code",
        "search-code-weight",
        "everything",
        "ingest",
        "load",
        "memory",
    ]
    lines = [f"| workload | {' | '.join(servers)} | target |", "|---" * (len(servers) + 2) + "|"]
    for workload in order:
        if not any(o.workload == workload for o in outcomes):
            continue
        cells = [_cell(by_key.get((workload, s)), workload) for s in servers]
        lines.append(
            f"| {TITLES.get(workload, workload)} | {' | '.join(cells)} | "
            f"{TARGETS.get(workload, '')} |"
        )
    return "\n".join(lines)


def checks(outcomes: list[Outcome]) -> str:
    """What each server answered to the first request of each workload (same data, same ask)."""
    rows = [f"- {o.workload} on {o.server}: {o.check}" for o in outcomes if o.check]
    return "\n".join(rows)


def render(
    *, outcomes: list[Outcome], servers: list[str], command: str, dataset: str, notes: list[str]
) -> str:
    """The whole Markdown section for one run."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"### Run of {stamp}: {dataset}",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        *[f"- {n}" for n in notes],
        "",
        table(outcomes, servers),
        "",
        "First answer of each workload (sanity check):",
        "",
        checks(outcomes),
        "",
    ]
    return "\n".join(parts)
