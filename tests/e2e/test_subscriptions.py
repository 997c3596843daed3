"""Change notifications end to end: the real server (granian), a real Celery worker on Redis, and
a real receiver on 127.0.0.1 (the server runs with DEBUG on so that a loopback endpoint is
allowed; everything else is as in production).

A Subscription created over HTTP is active; a matching create, update and delete are POSTed to
the receiver by the worker, with the resource as payload; a write for another code is not; an
endpoint that keeps failing ends with the Subscription in status `error` after its retries.
https://hl7.org/fhir/R4/subscription.html
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.e2e import live
from tests.e2e.live import Server, ServerPool
from tests.e2e.test_bulk_export import REDIS_HOST, Worker, _empty_redis_db
from tests.integrations.receiver import Receiver, receiving

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FHIR_JSON = "application/fhir+json"
WAIT = 15.0


@pytest.fixture(scope="module")
def notify_env() -> Iterator[dict[str, str]]:
    try:
        redis.Redis.from_url(REDIS_HOST).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    env = {
        "REDIS_URL": f"{REDIS_HOST}/{_empty_redis_db()}",
        "DEBUG": "1",
        "SUBSCRIPTION_MAX_ATTEMPTS": "3",
        "SUBSCRIPTION_RETRY_SECONDS": "0",
    }
    yield env
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


@pytest.fixture(scope="module")
def notify_server(server_pool: ServerPool, notify_env: dict[str, str]) -> Server:
    original = live._server_env

    def with_broker(database_url: str, base_url: str) -> dict[str, str]:
        return {**original(database_url, base_url), **notify_env}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live, "_server_env", with_broker)
        return server_pool.start(workers=2)


@pytest.fixture(scope="module")
def worker(
    notify_server: Server, notify_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    started = Worker(notify_server, notify_env, tmp_path_factory.mktemp("w") / "worker.log")
    yield started
    started.stop()


@pytest.fixture
def http(notify_server: Server) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(
            {**notify_server.auth, "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        )
        yield session


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def subscribe(http: requests.Session, server: Server, endpoint: str) -> dict:
    doc = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "e2e",
        "criteria": "Observation?code=http://loinc.org|8867-4",
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": FHIR_JSON,
            "header": ["Authorization: Bearer receiver-secret"],
        },
    }
    response = http.post(f"{server.base_url}/Subscription", json=doc, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def observation(code: str, value: int = 60) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/e2e-sub"},
        "valueQuantity": {"value": value, "unit": "/min"},
    }


def test_matching_writes_are_delivered_by_the_worker(http, notify_server, worker, receiver):
    base = notify_server.base_url
    created = subscribe(http, notify_server, receiver.url)
    assert created["status"] == "active"
    http.put(f"{base}/Patient/e2e-sub", json={"resourceType": "Patient", "id": "e2e-sub"})

    http.post(f"{base}/Observation", json=observation("29463-7"), timeout=30)  # no match
    obs = http.post(f"{base}/Observation", json=observation("8867-4"), timeout=30).json()
    receiver.wait_for(1, timeout=WAIT)
    changed = {**observation("8867-4", 61), "id": obs["id"]}
    http.put(f"{base}/Observation/{obs['id']}", json=changed, timeout=30)
    receiver.wait_for(2, timeout=WAIT)
    http.delete(f"{base}/Observation/{obs['id']}", timeout=30)

    hits = receiver.wait_for(3, timeout=WAIT)
    events = sorted(
        (h.headers["X-Subscription-Resource"], h.headers["X-Subscription-Event"]) for h in hits
    )
    assert events == [
        (f"Observation/{obs['id']}/_history/1", "create"),
        (f"Observation/{obs['id']}/_history/2", "update"),
        (f"Observation/{obs['id']}/_history/3", "delete"),
    ]
    first = next(h for h in hits if h.headers["X-Subscription-Event"] == "create")
    assert first.headers["Authorization"] == "Bearer receiver-secret"
    assert b'"8867-4"' in first.body
    time.sleep(0.5)
    assert len(receiver.received) == 3


def test_an_endpoint_that_keeps_failing_puts_the_subscription_in_error(
    http, notify_server, worker, receiver
):
    base = notify_server.base_url
    receiver.statuses = [500]
    created = subscribe(http, notify_server, receiver.url)
    http.put(f"{base}/Patient/e2e-sub", json={"resourceType": "Patient", "id": "e2e-sub"})

    http.post(f"{base}/Observation", json=observation("8867-4"), timeout=30)

    deadline = time.monotonic() + 20
    status = "active"
    while status != "error" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = http.get(f"{base}/Subscription/{created['id']}", timeout=30).json()["status"]
    stored = http.get(f"{base}/Subscription/{created['id']}", timeout=30).json()
    assert stored["status"] == "error"
    assert "HTTP 500" in stored["error"]
    assert len(receiver.received) == 3


def test_worker_log_has_no_errors(worker: Worker) -> None:
    text = Path(worker.log_path).read_text(errors="replace")
    assert "Traceback" not in text
