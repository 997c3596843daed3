"""Fixtures that start the real server (granian, DEBUG off, its own database) for tests/e2e.

Tests here talk HTTP (and plain SQL for checks), never Django's test database, so they need no
`db` fixture and run under pytest-xdist: each worker builds its own template database and its
servers listen on free ports. When DATABASE_URL names PostgreSQL, every database is created on
that server and dropped at the end; otherwise they are SQLite files in a temporary folder.
"""

import os
from collections.abc import Iterator

import pytest
import requests
from fhirpy import SyncFHIRClient

from tests.e2e.live import Databases, Server, ServerPool


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.fixture(scope="session")
def e2e_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    databases = Databases(directory=tmp_path_factory.mktemp("e2e-db"), postgres_url=_postgres_url())
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def server_pool(
    e2e_databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPool]:
    pool = ServerPool(databases=e2e_databases, log_dir=tmp_path_factory.mktemp("e2e-logs"))
    yield pool
    pool.stop_all()


@pytest.fixture(autouse=True)
def _no_unhandled_server_errors(server_pool: ServerPool) -> Iterator[None]:
    """Fail a test during which any server logged a traceback (a 500 is never acceptable)."""
    marks = server_pool.log_marks()
    yield
    errors = server_pool.errors_since(marks)
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="session")
def fhir_server(server_pool: ServerPool) -> Server:
    """One production-mode server (2 workers) shared by the session's client tests."""
    return server_pool.start(workers=2)


@pytest.fixture
def fhir_client(fhir_server: Server) -> SyncFHIRClient:
    return SyncFHIRClient(fhir_server.base_url, authorization=f"Bearer {fhir_server.token}")


@pytest.fixture
def http(fhir_server: Server) -> Iterator[requests.Session]:
    """A plain HTTP session with the bearer token, for what a FHIR client library hides."""
    with requests.Session() as session:
        session.headers.update({**fhir_server.auth, "Accept": "application/fhir+json"})
        yield session
