"""HTTP load with wrk: GET a list of paths round-robin and read back exact percentiles.

`bench/lua/paths.lua` drives wrk and prints one `BENCH_JSON {...}` line from its `done()` hook,
so the figures come from wrk's own latency histogram, not from parsing its text. A short warm-up
run (discarded) comes first so connection set-up and cold caches don't count.
Run alone: `python -m bench.loadgen --base http://127.0.0.1:8090 --paths FILE`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua" / "paths.lua"
_SECONDS = 20


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles in milliseconds, and failures."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    """Path to wrk, or a clear error saying how to get it."""
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: apt-get update && apt-get install -y wrk")
    return found


def run_wrk(**load: Any) -> LoadResult:
    """Run wrk with `start_wrk`'s arguments and wait for its figures."""
    return finish_wrk(start_wrk(**load), timeout=load.get("seconds", _SECONDS) + 120)


def start_wrk(
    *,
    origin: str,
    paths_file: Path,
    token: str = "",
    connections: int = 16,
    threads: int = 2,
    seconds: int = _SECONDS,
) -> subprocess.Popen[str]:
    """Start wrk against `origin` (scheme://host:port) with the paths in `paths_file`, without
    waiting: `finish_wrk` reads its result (`run_wrk` does both)."""
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        origin,
        "--",
        str(paths_file),
    ]
    env = {**os.environ, "FHIR_BENCH_TOKEN": token}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finish_wrk(running: subprocess.Popen[str], *, timeout: float) -> LoadResult:
    """Wait for a wrk started by `start_wrk` and return its figures."""
    try:
        stdout, stderr = running.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        running.kill()
        running.communicate()
        raise
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if running.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({running.returncode}): {stderr or stdout}")
    return _result(json.loads(line.removeprefix("BENCH_JSON ")))


def _result(raw: dict[str, float]) -> LoadResult:
    errors = sum(
        int(raw[k])
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return LoadResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
    )


def measure(
    *,
    origin: str,
    paths_file: Path,
    token: str = "",
    seconds: int = 20,
    warmup: int = 5,
    connections: int = 16,
) -> LoadResult:
    """A discarded warm-up run, then the measured run."""
    if warmup:
        run_wrk(
            origin=origin,
            paths_file=paths_file,
            token=token,
            seconds=warmup,
            connections=connections,
        )
    return run_wrk(
        origin=origin, paths_file=paths_file, token=token, seconds=seconds, connections=connections
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="GET a list of paths with wrk.")
    parser.add_argument("--base", required=True, help="origin, e.g. http://127.0.0.1:8000")
    parser.add_argument("--paths", type=Path, required=True, help="file with one path per line")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    result = measure(
        origin=args.base,
        paths_file=args.paths,
        seconds=args.seconds,
        token=os.environ.get("FHIR_BENCH_TOKEN", ""),
        connections=args.connections,
    )
    print(
        f"{result.per_second:.0f} req/s  p50 {result.p50_ms:.1f} ms  p90 {result.p90_ms:.1f} ms"
        f"  p99 {result.p99_ms:.1f} ms  max {result.max_ms:.1f} ms  errors {result.errors}"
    )


if __name__ == "__main__":
    main()
