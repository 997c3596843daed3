"""fhirstore.prepared: hot fixed statements are prepared once per PostgreSQL connection."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fhirstore.prepared import prepared_cursor

pytestmark = pytest.mark.django_db

_PROBE = "SELECT CAST(%s AS integer) + 1 AS probe_prepared"


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _run_probe(value: int) -> int:
    with prepared_cursor() as cursor:
        cursor.execute(_PROBE, [value])
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
def test_statement_is_prepared_once_and_answers_each_time() -> None:
    assert [_run_probe(1), _run_probe(41)] == [2, 42]
    probes = [s for s in _prepared_statements() if "probe_prepared" in s]
    assert len(probes) == 1


@pytest.mark.postgres
def test_setting_off_prepares_nothing(settings: pytest.FixtureRequest) -> None:
    settings.DATABASE_PREPARED_STATEMENTS = False  # type: ignore[attr-defined]
    assert _run_probe(2) == 3
    assert not [s for s in _prepared_statements() if "probe_prepared" in s]


def test_statements_are_seen_by_django_query_logging() -> None:
    with CaptureQueriesContext(connection) as captured:
        assert _run_probe(5) == 6
    assert any("probe_prepared" in query["sql"] for query in captured.captured_queries)
