"""Bulk Data $export end to end: the real server (granian) and real Celery workers on Redis.

The server and its workers share a database, a Redis database of their own (an empty one picked
for the session) and an export folder. Data are written straight into the store tables with
plain SQL (an export reads only stored text and compartments), so a large store costs a second.
Then: a system export kicked off over HTTP, polled and downloaded as a client would; and a
worker SIGKILLed in the middle of an export, a new worker started, and the job finishing with
exactly the stored resources, each once. https://hl7.org/fhir/uv/bulkdata/export.html
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.e2e import live
from tests.e2e.live import REPO, Database, Server, ServerPool

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REDIS_HOST = "redis://127.0.0.1:6379"
WRITTEN = datetime(2024, 1, 1, tzinfo=UTC)


def _empty_redis_db() -> int:
    """An empty Redis database number (other processes on this machine may use some)."""
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_HOST}/{number}")
        if client.dbsize() == 0:
            return number
    pytest.skip("no empty Redis database")


@pytest.fixture(scope="module")
def export_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    try:
        redis.Redis.from_url(REDIS_HOST).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    number = _empty_redis_db()
    env = {
        "REDIS_URL": f"{REDIS_HOST}/{number}",
        "BULK_EXPORT_DIR": str(tmp_path_factory.mktemp("exports")),
        "BULK_EXPORT_FILE_MB": "1",
        "BULK_EXPORT_LEASE_SECONDS": "3",
    }
    yield env
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


@pytest.fixture(scope="module")
def bulk_server(server_pool: ServerPool, export_env: dict[str, str]) -> Server:
    """A server that sends jobs to Redis (the default e2e server runs tasks in-process)."""
    original = live._server_env

    def with_broker(database_url: str, base_url: str) -> dict[str, str]:
        return {**original(database_url, base_url), **export_env}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live, "_server_env", with_broker)
        return server_pool.start(workers=2)


class Worker:
    """A Celery worker process (solo pool) in its own process group, logging to a file."""

    def __init__(self, server: Server, env: dict[str, str], log_path: Path) -> None:
        environment = {**live._server_env(server.database.url, server.base_url), **env}
        environment["LOG_LEVEL"] = "INFO"
        command = [sys.executable, "-m", "celery", "-A", "backend", "worker", "--pool", "solo"]
        command += ["--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def workers(bulk_server: Server, export_env: dict[str, str], tmp_path: Path) -> Iterator[list]:
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(bulk_server, export_env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield [start, started]
    for worker in started:
        worker.stop()


def _store(database: Database, prefix: str, patients: int, observations: int) -> list[str]:
    """Write resources straight into the store tables; return their "Type/id"s."""
    stamp = WRITTEN.isoformat() if database.vendor == "sqlite" else WRITTEN
    rows: list[tuple[str, str, dict[str, Any]]] = []
    members = []
    for p in range(patients):
        rows.append(("Patient", f"{prefix}p{p}", {"name": [{"family": f"F{p}"}]}))
    for n in range(observations):
        body = {
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{prefix}p{n % patients}"},
            "valueQuantity": {"value": n % 200, "unit": "/min"},
        }
        rows.append(("Observation", f"{prefix}o{n}", body))
    mark = "?" if database.vendor == "sqlite" else "%s"
    with database.connect() as connection:
        cursor = connection.cursor()
        values = [
            (kind, logical_id, 1, stamp, False, json.dumps(_doc(kind, logical_id, body)))
            for kind, logical_id, body in rows
        ]
        cursor.executemany(
            "INSERT INTO fhirstore_resource (resource_type, logical_id, version, last_updated,"
            f" deleted, text) VALUES ({', '.join([mark] * 6)})",
            values,
        )
        cursor.execute(
            "SELECT id, resource_type, logical_id FROM fhirstore_resource"
            f" WHERE logical_id LIKE {mark}",
            (f"{prefix}%",),
        )
        for pk, kind, logical_id in cursor.fetchall():
            owner = (
                logical_id
                if kind == "Patient"
                else f"{prefix}p{int(logical_id[len(prefix) + 1 :]) % patients}"
            )
            members.append((pk, kind, owner))
        cursor.executemany(
            "INSERT INTO fhirstore_compartmentmember (resource_id, resource_type, patient_id)"
            f" VALUES ({mark}, {mark}, {mark})",
            members,
        )
        if database.vendor == "sqlite":
            connection.commit()
    return sorted(f"{kind}/{logical_id}" for kind, logical_id, _ in rows)


def _doc(kind: str, logical_id: str, body: dict) -> dict:
    meta = {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00.000Z"}
    return {"resourceType": kind, "id": logical_id, "meta": meta, **body}


def _kickoff(server: Server, path: str) -> str:
    response = requests.get(
        f"{server.base_url}{path}",
        headers={**server.auth, "Prefer": "respond-async", "Accept": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.headers["Content-Location"])


def _wait_manifest(server: Server, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(status_url, headers=server.auth, timeout=10)
        if response.status_code == 200:
            return dict(response.json())
        assert response.status_code == 202, response.text
        assert response.headers["Retry-After"]
        time.sleep(0.1)
    raise AssertionError(f"the export did not finish in {timeout} s")


def _download(server: Server, manifest: dict) -> list[str]:
    found = []
    for item in manifest["output"]:
        response = requests.get(
            item["url"], headers={**server.auth, "Accept": "application/fhir+ndjson"}, timeout=30
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/fhir+ndjson"
        lines = response.text.splitlines()
        assert len(lines) == item["count"]
        for line in lines:
            doc = json.loads(line)
            assert doc["resourceType"] == item["type"]
            found.append(f"{doc['resourceType']}/{doc['id']}")
    return found


def _job(database: Database, job_id: str) -> tuple[str, int]:
    mark = "?" if database.vendor == "sqlite" else "%s"
    key = job_id.replace("-", "") if database.vendor == "sqlite" else job_id
    with database.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT status, files FROM integrations_exportjob WHERE id = {mark}", (key,)
        )
        row = cursor.fetchone()
    if row is None:
        return "missing", 0
    files = row[1] if isinstance(row[1], list) else json.loads(row[1])
    return str(row[0]), len(files)


def test_export_through_the_server_and_a_redis_worker(bulk_server, workers):
    start, _ = workers
    expected = _store(bulk_server.database, "e", patients=20, observations=2000)
    start()

    begun = time.monotonic()
    status_url = _kickoff(bulk_server, "/$export?_type=Patient,Observation")
    kickoff_seconds = time.monotonic() - begun
    manifest = _wait_manifest(bulk_server, status_url)

    assert kickoff_seconds < 1.0
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == f"{bulk_server.base_url}/$export?_type=Patient,Observation"
    found = _download(bulk_server, manifest)
    assert sorted(found) == [r for r in expected if r.startswith(("Patient/", "Observation/"))]


def test_a_worker_killed_mid_export_leaves_a_job_that_a_new_worker_completes(bulk_server, workers):
    start, _ = workers
    expected = _store(bulk_server.database, "k", patients=50, observations=40_000)
    status_url = _kickoff(bulk_server, "/Patient/$export?_type=Observation,Patient")
    job_id = status_url.rsplit("/", 1)[-1]
    first = start()

    deadline = time.monotonic() + 60
    while _job(bulk_server.database, job_id)[1] < 1:
        assert time.monotonic() < deadline, "the worker saved no file in 60 s"
        time.sleep(0.005)
    os.killpg(first.process.pid, signal.SIGSTOP)
    status, saved = _job(bulk_server.database, job_id)  # files saved before the kill
    first.kill()
    assert status == "in-progress", "the export finished before the worker could be killed"

    time.sleep(3.5)  # the dead worker's lease (BULK_EXPORT_LEASE_SECONDS=3) runs out
    start()  # on start, the worker re-sends jobs whose worker vanished
    manifest = _wait_manifest(bulk_server, status_url)

    found = _download(bulk_server, manifest)
    assert len(found) == len(set(found))  # nothing twice
    mine = sorted(r for r in found if r.split("/")[1].startswith("k"))  # the earlier test's too
    assert mine == expected
    assert saved < len(manifest["output"])
