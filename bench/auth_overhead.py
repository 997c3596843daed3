"""What the token check and the audit record add to a read (issue 4: at most 1 ms at the median).

In one process against PostgreSQL, the same `GET /fhir/Patient/{id}` is served two ways, interleaved
so machine noise hits both alike:
- bare: the store read and the response, as the view does them, with no token and no audit;
- full: the real view through Django's URL routing: bearer-token lookup, scope, rate-limit counters,
  read, response, and the audit INSERT.
Usage (any PostgreSQL database name):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_auth \
        .venv/bin/python bench/auth_overhead.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("SECRET_KEY", "bench-auth-overhead-secret-key")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_TOKEN", "100000000")
os.environ.setdefault("API_RATE_PER_MINUTE_PER_ADDRESS", "100000000")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from access.services import system_token_issue  # noqa: E402
from fhirstore.context import SYSTEM  # noqa: E402
from fhirstore.repository import Repository  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3000"))


def _bare(repo: Repository, logical_id: str) -> float:
    start = time.perf_counter()
    stored = repo.read(resource_type="Patient", logical_id=logical_id)
    from django.http import HttpResponse

    response = HttpResponse(stored.text, content_type="application/fhir+json; charset=utf-8")
    response["ETag"] = stored.etag
    return time.perf_counter() - start


def _full(client: Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.content
    return elapsed


def main() -> None:
    call_command("migrate", verbosity=0)
    token = system_token_issue(client_name="bench-auth", scope="system/*.*")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = b'{"resourceType":"Patient","name":[{"family":"Bench"}]}'
    created = client.post("/fhir/Patient", body, content_type="application/fhir+json").json()
    repo = Repository(scope=SYSTEM)
    path = f"/fhir/Patient/{created['id']}"
    bare, full = [], []
    for _ in range(ROUNDS):
        bare.append(_bare(repo, created["id"]))
        full.append(_full(client, path))
    b, f = statistics.median(bare) * 1000, statistics.median(full) * 1000
    print(f"rounds {ROUNDS}: bare read median {b:.3f} ms, with token check + audit {f:.3f} ms")
    print(f"added by token check, scope, rate limits, routing, audit: {f - b:.3f} ms (median)")


if __name__ == "__main__":
    main()
