"""A PostgreSQL restart costs no request: kept connections that died are replaced, not used.

The server keeps its database connections between requests. When PostgreSQL ends them (a
restart, a failover, an administrator), the next request on each must open a new one rather than
fail with a 500 (`backend/postgresql/base.py`), and the audit flusher's next batch must not fail
either. Every backend of the server's database is terminated here, as a restart would, and the
requests after it must all succeed and be audited.
"""

import time
import uuid

import pytest
import requests

from tests.e2e.live import Server, ServerPool

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FHIR_JSON = "application/fhir+json"


def _create(server: Server) -> requests.Response:
    patient = {"resourceType": "Patient", "name": [{"family": f"Restart-{uuid.uuid4().hex[:8]}"}]}
    return requests.post(
        f"{server.base_url}/Patient",
        json=patient,
        headers={**server.auth, "Content-Type": FHIR_JSON},
        timeout=30,
    )


def _terminate_server_connections(server: Server) -> int:
    with server.database.connect() as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def _audit_rows(server: Server) -> int:
    with server.database.connect() as connection:
        return connection.execute("SELECT COUNT(*) FROM access_auditrecord").fetchone()[0]


def _audit_rows_settled(server: Server) -> int:
    """The audit row count once the flusher has written what waited."""
    count, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        count, previous = _audit_rows(server), count
        if count == previous:
            break
    return count


def test_requests_after_the_database_dropped_every_connection_succeed(server_pool: ServerPool):
    server = server_pool.start(workers=1)
    with requests.Session() as session:  # one kept-alive connection: one worker, its threads
        session.headers.update(server.auth)
        created = [_create(server) for _ in range(4)]
        assert [r.status_code for r in created] == [201] * 4
        ids = [r.json()["id"] for r in created]
        assert session.get(f"{server.base_url}/Patient/{ids[0]}").status_code == 200
        audited_before = _audit_rows_settled(server)
        log_mark = server.log_size()

        assert _terminate_server_connections(server) >= 1

        after = [_create(server) for _ in range(4)]
        reads = [session.get(f"{server.base_url}/Patient/{i}") for i in ids]
        searches = [session.get(f"{server.base_url}/Patient", params={"_id": i}) for i in ids]

    assert [r.status_code for r in after] == [201] * 4, [r.text[:200] for r in after]
    assert [r.status_code for r in reads] == [200] * 4
    assert [r.json()["id"] for r in reads] == ids
    assert [r.json()["total"] for r in searches] == [1] * 4
    assert _audit_rows_settled(server) >= audited_before + 12  # one or more per request
    assert "audit batch not written" not in server.log_since(log_mark)
