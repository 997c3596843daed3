"""Fixtures and hooks shared by the whole suite; each test folder adds its own conftest.py.

Tests marked `@pytest.mark.postgres` are skipped when the suite runs on SQLite, so a
PostgreSQL-only behaviour (row locks, concurrent writers) is still tested in the PostgreSQL run
of `.ci/run` without failing the SQLite one.
"""

import pytest
from django.conf import settings


def _database_vendor() -> str:
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else engine.rsplit(".", 1)[-1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _database_vendor() == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture
def database_vendor() -> str:
    """`"postgresql"` or `"sqlite3"`: the backend this run uses."""
    return _database_vendor()
