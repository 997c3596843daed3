"""`$import` end to end: the real server (granian) and a real Celery worker on Redis load an
NDJSON file from the import folder; the client polls the status URL and reads the error file.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.e2e import live
from tests.e2e.live import Server, ServerPool
from tests.e2e.test_bulk_export import REDIS_HOST, Worker, _empty_redis_db

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def import_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    try:
        redis.Redis.from_url(REDIS_HOST).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    env = {
        "REDIS_URL": f"{REDIS_HOST}/{_empty_redis_db()}",
        "BULK_IMPORT_DIR": str(tmp_path_factory.mktemp("imports")),
        "BULK_EXPORT_DIR": str(tmp_path_factory.mktemp("exports")),
        "BULK_IMPORT_BATCH": "3",
    }
    yield env
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


@pytest.fixture(scope="module")
def import_server(server_pool: ServerPool, import_env: dict[str, str]) -> Server:
    original = live._server_env

    def with_broker(database_url: str, base_url: str) -> dict[str, str]:
        return {**original(database_url, base_url), **import_env}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live, "_server_env", with_broker)
        return server_pool.start(workers=2)


@pytest.fixture
def worker(import_server: Server, import_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    started = Worker(import_server, import_env, tmp_path / "worker.log")
    yield started
    started.stop()


def test_an_ndjson_file_is_imported_by_the_worker(import_server, import_env, worker):
    lines = [{"resourceType": "Patient", "id": f"imp-{n}"} for n in range(7)]
    lines.insert(4, {"resourceType": "Patient", "gender": 3})
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    (Path(import_env["BULK_IMPORT_DIR"]) / "patients.ndjson").write_text(text)
    headers = {**import_server.auth, "Prefer": "respond-async", "Content-Type": FHIR_JSON}
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "input", "valueUrl": "storage://imports/patients.ndjson"}],
    }

    kickoff = requests.post(f"{import_server.base_url}/$import", json=body, headers=headers)

    assert kickoff.status_code == 202, kickoff.text
    status = requests.get(kickoff.headers["Content-Location"], headers=import_server.auth)
    deadline = time.monotonic() + 30
    while status.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = requests.get(kickoff.headers["Content-Location"], headers=import_server.auth)
    assert status.status_code == 200, status.text
    manifest = status.json()
    assert manifest["output"] == [{"type": "Patient", "count": 7}]
    [error] = manifest["error"]
    outcome = requests.get(error["url"], headers=import_server.auth)
    assert "patients.ndjson line 5" in outcome.text
    found = requests.get(
        f"{import_server.base_url}/Patient?_id=imp-6", headers=import_server.auth
    ).json()
    assert found["total"] == 1
