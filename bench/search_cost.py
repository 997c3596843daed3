"""What one search or `$everything` costs a web worker: CPU, wall time and SQL statements.

In one process, each path goes through Django's WSGI handler (middleware, routing, the FHIR view,
the streamed bytes) with the access scope handed over (system/*.*) and no audit record, so the
figures are the search alone; the token check and audit are measured by `auth_overhead.py`,
and the publishing of pending audit records before `$everything` is left out too.
Paths are taken round-robin from a paths file (as wrk does) or given on the command line.
Medians of ROUNDS requests after WARMUP. Reads only: nothing is written to the database.
Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_p1000_s1 \\
        .venv/bin/python bench/search_cost.py bench/.work/p1000-s1/ours-search-vitals.paths
    ... bench/search_cost.py '/fhir/Observation?code=http%3A%2F%2Floinc.org%7C29463-7&...'
PROFILE=1 prints the top of a cProfile of the measured rounds instead of the medians' detail.
"""

import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("SECRET_KEY", "bench-search-cost-secret-key")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_TOKEN", "100000000")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_ADDRESS", "100000000")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402

from api.fhir import responses  # noqa: E402
from fhirstore.context import SYSTEM  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "200"))
WARMUP = int(os.environ.get("WARMUP", "20"))


def _environ(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_ACCEPT": "application/fhir+json",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


class _Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements += 1
        return execute(sql, params, many, context)


def _one(handler: WSGIHandler, target: str) -> tuple[float, float, int, int]:
    """(CPU seconds, wall seconds, SQL statements, body bytes) of one request."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return statuses.append

    counter = _Counter()
    with connection.execute_wrapper(counter):
        cpu, wall = time.process_time(), time.perf_counter()
        body = b"".join(handler(_environ(target), start_response))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert statuses[0].startswith("200"), (statuses, body[:300])
    return cpu, wall, counter.statements, len(body)


def _targets(args: list[str]) -> list[str]:
    if len(args) == 1 and Path(args[0]).is_file():
        return [line for line in Path(args[0]).read_text().splitlines() if line]
    return args


def _system(request: Any, **kwargs: Any) -> Any:
    return SYSTEM


def main() -> None:
    responses.scope_for_request = _system
    responses.audit_request = lambda **kwargs: None
    # Publishing pending audit records as AuditEvents (before a read that may return them, such
    # as $everything) is a write of its own, not the search's cost.
    responses.audit_publish = lambda **kwargs: 0
    targets = _targets(sys.argv[1:])
    handler = WSGIHandler()
    for n in range(WARMUP):
        _one(handler, targets[n % len(targets)])
    profile = cProfile.Profile() if os.environ.get("PROFILE") else None
    results = []
    for n in range(ROUNDS):
        if profile:
            profile.enable()
        results.append(_one(handler, targets[n % len(targets)]))
        if profile:
            profile.disable()
    cpu, wall, statements, size = (
        statistics.median(column) for column in zip(*results, strict=True)
    )
    print(
        f"{len(targets)} path(s), {ROUNDS} rounds: CPU {cpu * 1000:.2f} ms, wall {wall * 1000:.2f}"
        f" ms (medians), {statements:.0f} SQL statements, {size:.0f} bytes"
    )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
