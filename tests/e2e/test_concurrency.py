"""Nothing lost under concurrency: 50 clients racing on one resource against the real server.

The server runs as in production (granian, 4 worker processes, DEBUG off). Every client starts at
same barrier, so requests really overlap in the workers and the database. On PostgreSQL the store
relies on row locks and advisory locks; on SQLite writers are serialised by BEGIN IMMEDIATE. The
guarantees must hold on both: https://hl7.org/fhir/R4/http.html#concurrency
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from tests.e2e.live import Server, ServerPool

pytestmark = pytest.mark.e2e

CLIENTS = 50
STAGGER_S = 0.01
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = "application/fhir+json"
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    writer: int
    read_version: str
    status: int
    etag: str | None
    body: dict[str, Any]


@pytest.fixture(scope="module")
def busy_server(server_pool: ServerPool) -> Server:
    return server_pool.start(workers=4)


@pytest.fixture
def session(busy_server: Server) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers.update({**busy_server.auth, "Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
        yield s


def _race(action: Callable[[int, requests.Session], T], headers: dict[str, str]) -> list[T]:
    """Run `action(i, session)` for CLIENTS clients released together; results in client order."""
    barrier = threading.Barrier(CLIENTS)

    def run(index: int) -> T:
        with requests.Session() as own:
            own.headers.update(headers)
            barrier.wait(timeout=60)
            return action(index, own)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(run, range(CLIENTS)))


def _version(etag: str | None) -> str:
    assert etag is not None
    return etag.removeprefix("W/").strip('"')


def _history(session: requests.Session, url: str) -> dict[str, dict[str, Any]]:
    """versionId → resource for every version of the instance at `url` (deletions excluded)."""
    bundle = session.get(f"{url}/_history", params={"_count": 200}, timeout=30).json()
    assert "next" not in {link["relation"] for link in bundle.get("link", [])}
    return {
        e["resource"]["meta"]["versionId"]: e["resource"]
        for e in bundle["entry"]
        if "resource" in e
    }


def _new_patient(session: requests.Session, server: Server) -> str:
    response = session.post(
        f"{server.base_url}/Patient", json={"resourceType": "Patient", "gender": "unknown"}
    )
    assert response.status_code == 201, response.text
    return f"{server.base_url}/Patient/{response.json()['id']}"


def test_concurrent_if_match_writers_lose_no_update(busy_server: Server, session: requests.Session):
    url = _new_patient(session, busy_server)

    def write(writer: int, client: requests.Session) -> Attempt:
        time.sleep(writer * STAGGER_S)  # some read after others committed: several winners
        read = client.get(url, timeout=60)
        body = {**read.json(), "name": [{"family": f"writer-{writer}"}]}
        put = client.put(url, json=body, headers={"If-Match": read.headers["ETag"]}, timeout=60)
        return Attempt(
            writer,
            _version(read.headers["ETag"]),
            put.status_code,
            put.headers.get("ETag"),
            put.json(),
        )

    attempts = _race(write, dict(session.headers))

    wins = [a for a in attempts if a.status == 200]
    losses = [a for a in attempts if a.status == 412]
    assert len(wins) + len(losses) == CLIENTS, sorted({a.status for a in attempts})
    assert wins
    assert all(a.body["resourceType"] == "OperationOutcome" for a in losses)
    won_versions = [_version(a.etag) for a in wins]
    assert len(set(won_versions)) == len(wins)
    assert all(int(_version(a.etag)) == int(a.read_version) + 1 for a in wins)
    history = _history(session, url)
    assert sorted(history, key=int) == [str(v) for v in range(1, len(wins) + 2)]
    for win in wins:
        assert history[_version(win.etag)]["name"] == [{"family": f"writer-{win.writer}"}]


def test_concurrent_unconditional_updates_each_land_as_their_own_version(
    busy_server: Server, session
):
    url = _new_patient(session, busy_server)
    logical_id = url.rsplit("/", 1)[1]

    def write(writer: int, client: requests.Session) -> Attempt:
        body = {
            "resourceType": "Patient",
            "id": logical_id,
            "name": [{"family": f"writer-{writer}"}],
        }
        put = client.put(url, json=body, timeout=60)
        return Attempt(writer, "", put.status_code, put.headers.get("ETag"), put.json())

    attempts = _race(write, dict(session.headers))

    assert [a.status for a in attempts] == [200] * CLIENTS, [
        a.body for a in attempts if a.status != 200
    ][:3]
    assert sorted(int(_version(a.etag)) for a in attempts) == list(range(2, CLIENTS + 2))
    history = _history(session, url)
    assert len(history) == CLIENTS + 1
    for attempt in attempts:
        assert history[_version(attempt.etag)]["name"] == [{"family": f"writer-{attempt.writer}"}]


def _rows_with(server: Server, resource_type: str, marker: str) -> int:
    """Current rows of `resource_type` whose stored JSON holds `marker`, by plain SQL."""
    placeholder = "?" if server.database.vendor == "sqlite" else "%s"
    sql = (
        f"SELECT COUNT(*) FROM fhirstore_resource WHERE resource_type = {placeholder} "
        f"AND text LIKE {placeholder}"
    )
    with server.database.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, (resource_type, f"%{marker}%"))
        return int(cursor.fetchone()[0])


def test_concurrent_conditional_creates_make_exactly_one_resource(busy_server: Server, session):
    value = uuid.uuid4().hex
    body = {"resourceType": "Patient", "identifier": [{"system": NHS, "value": value}]}

    def create(writer: int, client: requests.Session) -> Attempt:
        response = client.post(
            f"{busy_server.base_url}/Patient",
            json=body,
            headers={"If-None-Exist": f"identifier={NHS}|{value}"},
            timeout=60,
        )
        return Attempt(
            writer, "", response.status_code, response.headers.get("ETag"), response.json()
        )

    attempts = _race(create, dict(session.headers))

    statuses = sorted(a.status for a in attempts)
    assert statuses == [200] * (CLIENTS - 1) + [201], [a.body for a in attempts if a.status >= 300][
        :3
    ]
    assert len({a.body["id"] for a in attempts}) == 1
    assert _rows_with(busy_server, "Patient", value) == 1


def test_concurrent_conditional_updates_make_one_resource_with_every_version(
    busy_server: Server, session
):
    value = uuid.uuid4().hex
    criteria = f"{busy_server.base_url}/Patient?identifier={NHS}|{value}"

    def upsert(writer: int, client: requests.Session) -> Attempt:
        body = {
            "resourceType": "Patient",
            "identifier": [{"system": NHS, "value": value}],
            "name": [{"family": f"writer-{writer}"}],
        }
        response = client.put(criteria, json=body, timeout=60)
        return Attempt(
            writer, "", response.status_code, response.headers.get("ETag"), response.json()
        )

    attempts = _race(upsert, dict(session.headers))

    statuses = sorted(a.status for a in attempts)
    assert statuses == [200] * (CLIENTS - 1) + [201], [a.body for a in attempts if a.status >= 300][
        :3
    ]
    assert len({a.body["id"] for a in attempts}) == 1
    assert sorted(int(_version(a.etag)) for a in attempts) == list(range(1, CLIENTS + 1))
    assert _rows_with(busy_server, "Patient", value) == 1
