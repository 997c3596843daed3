"""Two servers side by side under the same wrk load, runs alternated, with CPU per request.

For comparing a change against the code before it: serve each version on its own port (a git
worktree holds the old one), then alternate wrk runs between them so that machine noise hits
both alike. Each run reports throughput, latency percentiles and the CPU time that the web
processes (`backend.serve`), PostgreSQL and wrk spent per request, read from /proc. The figures
of this session's changes in bench/RESULTS.md were taken this way.

    git worktree add /tmp/before <commit> && ln -s "$PWD/.venv" /tmp/before/.venv
    (cd /tmp/before && .venv/bin/python -m bench.ours serve --keep-data \\
        --database bench_p1000_s1 --port 8003) &
    .venv/bin/python -m bench.ours serve --keep-data --database bench_p1000_s1 --port 8002 &
    export FHIR_BENCH_TOKEN=...   # printed by the first server; both share the database
    .venv/bin/python -m bench.ab --ports 8002,8003 --paths bench/.work/p1000-s1/ours-read.paths

Reads alongside heavy requests: `--background FILE` keeps `--background-connections` (2) more
clients requesting FILE's paths (`$everything`, say) on the same server through each run, and
reports their throughput and median too. This is how the default of two threads per worker was
checked (bench/RESULTS.md, "Threads per worker"): a worker with one thread makes every request
on its connections wait behind a slow one.

    .venv/bin/python -m bench.ab --ports 8002,8003 \\
        --paths bench/.work/p1000-s1/ours-read.paths \\
        --background bench/.work/p1000-s1/ours-everything.paths

Growth the same way: one server on each store (`--database bench_p10000_s1 --port 8004` for the
second), runs alternated, with a paths file and a token for each, in the order of the ports:

    export FHIR_BENCH_TOKEN=<token of 8002>,<token of 8004>
    W=ours-search-vitals.paths
    .venv/bin/python -m bench.ab --ports 8002,8004 \\
        --paths bench/.work/p1000-s1/$W,bench/.work/p10000-s1/$W
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

from bench.loadgen import LoadResult, finish_wrk, run_wrk, start_wrk

_TICK = os.sysconf("SC_CLK_TCK")


def _group(command: str, name: str) -> str:
    if "backend.serve" in command:
        return "web"
    if name.startswith("postgres"):
        return "postgres"
    return "wrk" if name == "wrk" else ""


def cpu_ticks() -> Counter[str]:
    """CPU ticks used so far by the web processes, PostgreSQL and wrk (all of them)."""
    used: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        name = stat.split("(", 1)[1].rsplit(")", 1)[0]
        fields = stat.rsplit(")", 1)[1].split()
        group = _group(command, name)
        if group:
            used[group] += int(fields[11]) + int(fields[12])
    return used


def one_run(
    port: int, paths: Path, seconds: int, token: str = ""
) -> tuple[LoadResult, dict[str, float]]:
    """One wrk run against `port`; the result and microseconds of CPU per request by group.
    Processes that end during the run (wrk itself) are not counted."""
    before = cpu_ticks()
    result = run_wrk(
        origin=f"http://127.0.0.1:{port}",
        paths_file=paths,
        token=token,
        seconds=seconds,
    )
    after = cpu_ticks()
    per_request = {
        group: (after[group] - before[group]) / _TICK / max(result.requests, 1) * 1e6
        for group in ("web", "postgres")
    }
    return result, per_request


def run_alongside(
    port: int, paths: Path, seconds: int, token: str, background: Path, connections: int
) -> tuple[LoadResult, dict[str, float], LoadResult]:
    """`one_run` while `connections` more clients request `background`'s paths on the same
    server, from a second before the run to a second after it; also their result. The CPU per
    request then counts the other clients' requests' CPU too."""
    running = start_wrk(
        origin=f"http://127.0.0.1:{port}",
        paths_file=background,
        token=token,
        connections=connections,
        threads=1,
        seconds=seconds + 2,
    )
    try:
        time.sleep(1)
        result, cpu = one_run(port, paths, seconds, token)
    finally:
        alongside = finish_wrk(running, timeout=seconds + 120)
    return result, cpu, alongside


def _per_port(listed: str, ports: list[int]) -> dict[int, str]:
    """A comma list's values by port: one value for every port, or one per port in order
    (empty when the counts differ)."""
    values = listed.split(",")
    if len(values) == 1:
        values = values * len(ports)
    return dict(zip(ports, values, strict=True)) if len(values) == len(ports) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", required=True, help="comma list, e.g. 8002,8003")
    parser.add_argument(
        "--paths",
        required=True,
        help="file with one path per line; or a comma list, one file per port (servers on"
        " different data, e.g. the 1,000- and 10,000-patient stores for growth)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--background",
        help="file with paths that more clients request through each run (one, or one per port)",
    )
    parser.add_argument("--background-connections", type=int, default=2)
    args = parser.parse_args()
    ports = [int(port) for port in args.ports.split(",")]
    paths = {port: Path(name) for port, name in _per_port(args.paths, ports).items()}
    token = _per_port(os.environ.get("FHIR_BENCH_TOKEN", ""), ports)
    background = {
        port: Path(name) for port, name in _per_port(args.background or "", ports).items()
    }
    if not paths or not token or (args.background and not background):
        parser.error(
            "--paths, --background and FHIR_BENCH_TOKEN each take one value, or one per port"
        )
    for port in ports:
        if args.warmup:
            one_run(port, paths[port], args.warmup, token[port])
    for run in range(1, args.runs + 1):
        for port in ports:
            if args.background:
                result, cpu, alongside = run_alongside(
                    port,
                    paths[port],
                    args.seconds,
                    token[port],
                    background[port],
                    args.background_connections,
                )
                also = (
                    f"; alongside: {alongside.per_second:,.1f} req/s, "
                    f"p50 {alongside.p50_ms:.1f} ms, errors {alongside.errors}"
                )
            else:
                result, cpu = one_run(port, paths[port], args.seconds, token[port])
                also = ""
            print(
                f"run {run} port {port}: {result.per_second:,.0f} req/s, "
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                f"errors {result.errors}; CPU per request: web {cpu['web']:.0f} us, "
                f"PostgreSQL {cpu['postgres']:.0f} us{also}",
                flush=True,
            )


if __name__ == "__main__":
    main()
