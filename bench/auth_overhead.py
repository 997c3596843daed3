"""What the token check and the audit record add to a read (issue 4: at most 1 ms at the median).

In one process against PostgreSQL, the same `GET /fhir/Observation/{id}` goes through Django's
WSGI handler (middleware, routing, the FHIR view, the stored bytes) two ways, interleaved request
by request so machine noise hits both alike:
- without: the access scope handed over directly and no audit record (the two swapped out);
- with: the bearer-token check, scope, rate-limit counters and the audit INSERT, as served.
Usage (any PostgreSQL database name):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_auth \\
        .venv/bin/python bench/auth_overhead.py
"""

import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("SECRET_KEY", "bench-auth-overhead-secret-key")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_TOKEN", "100000000")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_ADDRESS", "100000000")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from access.services import system_token_issue  # noqa: E402
from api.fhir import responses  # noqa: E402
from fhirstore.context import SYSTEM  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3000"))
REAL = (responses.scope_for_request, responses.audit_request)
SKIPPED: tuple[Any, Any] = (lambda request, **kwargs: SYSTEM, lambda **kwargs: None)


def _environ(path: str, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


def _timed(handler: WSGIHandler, path: str, token: str, parts: tuple[Any, Any]) -> float:
    responses.scope_for_request, responses.audit_request = parts
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return statuses.append

    start = time.perf_counter()
    b"".join(handler(_environ(path, token), start_response))
    elapsed = time.perf_counter() - start
    assert statuses[0].startswith("200"), statuses
    return elapsed


def _observation(client: Client) -> str:
    body = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"steps"},'
        b'"subject":{"reference":"Patient/bench"}}'
    )
    return str(
        client.post("/fhir/Observation", body, content_type="application/fhir+json").json()["id"]
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    token = system_token_issue(client_name="bench-auth", scope="system/*.*")
    path = f"/fhir/Observation/{_observation(Client(HTTP_AUTHORIZATION=f'Bearer {token}'))}"
    handler = WSGIHandler()
    for _ in range(200):  # warm-up: caches, connections, code paths
        _timed(handler, path, token, REAL)
        _timed(handler, path, token, SKIPPED)
    without, with_ = [], []
    for _ in range(ROUNDS):
        without.append(_timed(handler, path, token, SKIPPED))
        with_.append(_timed(handler, path, token, REAL))
    responses.scope_for_request, responses.audit_request = REAL
    a, b = statistics.median(without) * 1000, statistics.median(with_) * 1000
    print(f"rounds {ROUNDS}: read without token check and audit {a:.3f} ms (median)")
    print(f"read with token check, scope, rate limits and audit {b:.3f} ms (median)")
    print(f"added: {b - a:.3f} ms")


if __name__ == "__main__":
    main()
