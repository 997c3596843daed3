"""Bulk Data $export benchmark: the real server (granian), one Celery worker on Redis, PostgreSQL.

The store is filled by cloning the seed Synthea patients (fresh uuids, the same resource shapes
and sizes as a real load) straight into the resource and compartment tables with COPY: an export
reads only stored text and compartments, and loading through the API is `bench/ingest.py`'s job.
Then, over HTTP as a client would:
  - kick-off latency: 20 kick-offs, each cancelled at once (DELETE);
  - a system export of everything: wall time from kick-off to the manifest, resources/s, and the
    worker's peak RSS sampled from /proc every 20 ms;
  - a patient's own export (a patient token, `Patient/$export`) of one heavy patient, end to end
    (kick-off, polls every 50 ms, manifest, download).

    python -m bench.export --resources 200000
    python -m bench.export --resources 2000000 --keep-data
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field

import orjson
import psycopg
import redis
import requests

from bench.generate import clone, seed_bundles
from bench.ours import ROOT, environment, manage, migrate, mint_token, recreate_database
from bench.procs import Server, rss_kib, spawn, wait_until_up

DATABASE = "export_bench"
PORT = 8391
REDIS = "redis://127.0.0.1:6379"
OPEN_TYPES = {"Practitioner", "PractitionerRole", "Organization", "Location", "Medication"}
WORK = ROOT / "bench" / ".work" / "export"
PATIENT_TOKEN = """
import secrets
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model
from access.models import Account, TokenContext
app, _ = get_application_model().objects.get_or_create(name="bench-app", defaults=dict(
    client_type="public", authorization_grant_type="authorization-code",
    redirect_uris="https://app.example/cb"))
user = get_user_model().objects.create_user(username="bench-" + secrets.token_hex(4))
Account.objects.create(user=user, kind="patient", fhir_id="{patient}")
text = secrets.token_urlsafe(24)
token = get_access_token_model().objects.create(user=user, application=app, token=text,
    scope="patient/*.rs", expires=timezone.now() + timedelta(hours=2))
TokenContext.objects.create(access_token=token, patient_id="{patient}")
print(text)
"""


@dataclass
class Loaded:
    resources: int = 0
    bytes: int = 0
    heavy_patient: str = ""
    heavy_resources: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def _resources(raw: bytes) -> list[dict]:
    return [entry["resource"] for entry in orjson.loads(raw)["entry"]]


def load(env: dict[str, str], target: int, rng: random.Random) -> Loaded:
    """COPY clones of the seed patients until `target` resources are stored; the first patient
    is made heavy (its entries repeated to about 1,000 resources)."""
    _, patients = seed_bundles()
    loaded = Loaded()
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        with connection.cursor() as cursor:
            next_pk = 1
            with (
                cursor.copy(
                    "COPY fhirstore_resource (id, resource_type, logical_id, version, last_updated,"
                    " deleted, text) FROM STDIN"
                ) as resources_copy,
                io.StringIO() as members,
            ):
                while loaded.resources < target:
                    raw = clone(rng.choice(patients), rng)
                    docs = _resources(raw)
                    if not loaded.heavy_patient:
                        docs = _heavy(docs)
                    next_pk = _copy_patient(resources_copy, members, docs, next_pk, loaded)
                members.seek(0)
                member_rows = members.getvalue()
            with cursor.copy(
                "COPY fhirstore_compartmentmember (resource_id, resource_type, patient_id)"
                " FROM STDIN"
            ) as copy:
                copy.write(member_rows)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('fhirstore_resource', 'id'), %s)",
                (next_pk,),
            )
        connection.commit()
        connection.execute("ANALYZE")
    return loaded


def _heavy(docs: list[dict]) -> list[dict]:
    patient = [d for d in docs if d["resourceType"] == "Patient"]
    others = [d for d in docs if d["resourceType"] not in OPEN_TYPES | {"Patient"}]
    copies = [dict(d, id=str(uuid.uuid4())) for d in itertools.islice(itertools.cycle(others), 999)]
    return patient + copies


def _copy_patient(
    copy, members: io.StringIO, docs: list[dict], next_pk: int, loaded: Loaded
) -> int:
    patient_id = next(d["id"] for d in docs if d["resourceType"] == "Patient")
    if not loaded.heavy_patient:
        loaded.heavy_patient, loaded.heavy_resources = patient_id, len(docs)
    for doc in docs:
        doc["id"] = doc.get("id") or str(uuid.uuid4())
        doc["meta"] = {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00.000Z"}
        text = orjson.dumps(doc).decode()
        kind = doc["resourceType"]
        copy.write_row((next_pk, kind, doc["id"], 1, "2024-01-01T00:00:00Z", False, text))
        if kind not in OPEN_TYPES:
            members.write(f"{next_pk}\t{kind}\t{patient_id}\n")
        loaded.resources += 1
        loaded.bytes += len(text) + 1
        loaded.by_type[kind] = loaded.by_type.get(kind, 0) + 1
        next_pk += 1
    return next_pk


def _empty_redis_db() -> int:
    for number in range(15, 0, -1):
        if redis.Redis.from_url(f"{REDIS}/{number}").dbsize() == 0:
            return number
    raise RuntimeError("no empty Redis database")


class RssSampler(threading.Thread):
    """Peak RSS (MiB) of one process, sampled every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.start_mib, self.done = pid, 0.0, rss_kib(pid) / 1024, False

    def run(self) -> None:
        while not self.done:
            self.peak = max(self.peak, rss_kib(self.pid) / 1024)
            time.sleep(0.02)


def kickoff(server: Server, path: str, token: str) -> tuple[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async"}
    begun = time.perf_counter()
    response = requests.get(f"{server.base_url}{path}", headers=headers, timeout=30)
    elapsed = time.perf_counter() - begun
    assert response.status_code == 202, response.text
    return response.headers["Content-Location"], elapsed


def wait_manifest(status_url: str, token: str, poll: float) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        response = requests.get(status_url, headers=headers, timeout=30)
        if response.status_code == 200:
            return dict(response.json())
        if response.status_code != 202:
            raise RuntimeError(f"status {response.status_code}: {response.text}")
        time.sleep(poll)


def download(manifest: dict, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+ndjson"}
    lines = 0
    for item in manifest["output"]:
        with requests.get(item["url"], headers=headers, timeout=120, stream=True) as response:
            for chunk in response.iter_content(1 << 20):
                lines += chunk.count(b"\n")
    return lines


def kickoff_latency(server: Server, runs: int = 20) -> list[float]:
    times = []
    for _ in range(runs):
        status_url, elapsed = kickoff(server, "/$export", server.token)
        requests.delete(status_url, headers=server.headers(), timeout=30)
        times.append(elapsed * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=200_000)
    parser.add_argument("--keep-data", action="store_true", help="reuse the loaded database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    env = environment(database=DATABASE)
    env.update(
        FHIR_BASE_URL=f"http://127.0.0.1:{PORT}/fhir",
        REDIS_URL=f"{REDIS}/{_empty_redis_db()}",
        BULK_EXPORT_DIR=str(WORK / "files"),
    )
    state = WORK / "loaded.json"
    if args.keep_data and state.exists():
        loaded = Loaded(**json.loads(state.read_text()))
    else:
        recreate_database(DATABASE)
        migrate(env)
        begun = time.monotonic()
        loaded = load(env, args.resources, random.Random(args.seed))
        seconds = time.monotonic() - begun
        print(
            f"loaded {loaded.resources} resources ({loaded.bytes / 1e6:.0f} MB) in {seconds:.0f} s"
        )
        state.write_text(json.dumps(loaded.__dict__))
    token = mint_token(env)
    patient_token = (
        manage("shell", "-c", PATIENT_TOKEN.replace("{patient}", loaded.heavy_patient), env=env)
        .strip()
        .splitlines()[-1]
    )
    web = spawn(
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "backend.serve",
            "--port",
            str(PORT),
            "--workers",
            "2",
        ],
        env=env,
        cwd=ROOT,
        log_path=WORK / "web.log",
    )
    worker = spawn(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "backend",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
        log_path=WORK / "worker.log",
    )
    server = Server(name="ours", base_url=f"http://127.0.0.1:{PORT}/fhir", proc=web, token=token)
    try:
        wait_until_up(server, path="/metadata")
        time.sleep(3)  # the worker connects to Redis
        report(server, worker.pid, loaded, patient_token)
    finally:
        server.stop()
        Server(name="worker", base_url="", proc=worker).stop()
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def report(server: Server, worker_pid: int, loaded: Loaded, patient_token: str) -> None:
    # The patient export first warms the worker (imports, connections) and is the small case.
    patient_runs = []
    for _ in range(3):
        begun = time.perf_counter()
        status_url, _ = kickoff(server, "/Patient/$export", patient_token)
        manifest = wait_manifest(status_url, patient_token, poll=0.05)
        lines = download(manifest, patient_token)
        patient_runs.append(time.perf_counter() - begun)
    runs = ", ".join(f"{s:.2f}" for s in patient_runs)
    print(f"patient export: {lines} resources, end to end {runs} s")
    latency = sorted(kickoff_latency(server))
    print(
        f"kick-off: median {statistics.median(latency):.1f} ms, max {latency[-1]:.1f} ms (20 runs)"
    )
    sampler = RssSampler(worker_pid)
    sampler.start()
    begun = time.perf_counter()
    status_url, _ = kickoff(server, "/$export", server.token)
    manifest = wait_manifest(status_url, server.token, poll=0.2)
    seconds = time.perf_counter() - begun
    sampler.done = True
    sampler.join()
    count = sum(item["count"] for item in manifest["output"])
    print(
        f"system export: {count} resources ({loaded.bytes / 1e6:.0f} MB) in {seconds:.1f} s ="
        f" {count / seconds:,.0f} resources/s; {len(manifest['output'])} files;"
        f" worker RSS {sampler.start_mib:.0f} MiB before, peak {sampler.peak:.0f} MiB"
    )
    assert count == loaded.resources, (count, loaded.resources)
    requests.delete(status_url, headers=server.headers(), timeout=60)


if __name__ == "__main__":
    main()
