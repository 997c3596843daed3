"""fhirstore.prepared: hot statements are prepared once per PostgreSQL connection."""

from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from fhirstore.prepared import _numbered, first_row, prepared_cursor

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


def _plan_cache_mode(db: Any) -> str:
    with db.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return str(cursor.fetchone()[0])


@pytest.mark.postgres
def test_prepared_statements_run_their_generic_plan_from_the_first_run() -> None:
    assert _plan_cache_mode(connection) == "force_generic_plan"
    assert _run_probe(7) == 8
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%%probe_prepared%%'"
        )
        assert cursor.fetchone() == (1, 0)


@pytest.mark.postgres
def test_with_prepared_statements_off_postgresql_chooses_its_plans(
    settings: pytest.FixtureRequest,
) -> None:
    settings.DATABASE_PREPARED_STATEMENTS = False  # type: ignore[attr-defined]
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        assert _plan_cache_mode(fresh) == "auto"
    finally:
        fresh.close()


def test_statements_are_seen_by_django_query_logging() -> None:
    with CaptureQueriesContext(connection) as captured:
        assert _run_probe(5) == 6
    assert any("probe_prepared" in query["sql"] for query in captured.captured_queries)


_ROW = "SELECT CAST(%s AS integer) + 1, %s, CAST(NULL AS text), %s > 0 AS first_row_probe"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_row_outside_a_transaction_goes_through_libpq_as_text() -> None:
    assert first_row(_ROW, [41, "héllo", 2]) == ("42", "héllo", None, "t")
    assert first_row(_ROW, [1, "x", -1]) == ("2", "x", None, "f")
    assert first_row(_ROW + " WHERE false", [1, "x", 1]) is None
    probes = [s for s in _prepared_statements() if s.endswith("AS first_row_probe")]
    assert probes == [
        "SELECT CAST($1 AS integer) + 1, $2, CAST(NULL AS text), $3 > 0 AS first_row_probe"
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_row_prepares_again_when_its_statement_was_dropped() -> None:
    """psycopg sends DEALLOCATE ALL after a rollback when it holds statements of its own."""
    assert first_row(_ROW, [1, "a", 1])[0] == "2"  # type: ignore[index]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert first_row(_ROW, [2, "b", 1])[0] == "3"  # type: ignore[index]
    assert first_row(_ROW, [3, "c", 1])[0] == "4"  # type: ignore[index]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_row_after_psycopg_rolled_back_its_own_prepared_statements() -> None:
    with prepared_cursor() as cursor:  # psycopg now holds a prepared statement
        cursor.execute(_PROBE, [1])
    assert first_row(_ROW, [1, "a", 1])[0] == "2"  # type: ignore[index]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")  # the rollback makes psycopg DEALLOCATE ALL
    with prepared_cursor() as cursor:
        cursor.execute(_PROBE, [2])
    assert first_row(_ROW, [5, "e", 1])[0] == "6"  # type: ignore[index]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_row_reports_a_failing_statement() -> None:
    with pytest.raises(DatabaseError, match="division by zero"):
        first_row("SELECT 1 / CAST(%s AS integer)", [0])
    assert first_row("SELECT 1 / CAST(%s AS integer)", [1]) == ("1",)


def test_first_row_inside_a_transaction_uses_a_cursor_and_typed_values() -> None:
    with transaction.atomic():
        found = first_row(_ROW, [1, "x", 0])
    assert found is not None
    assert tuple(found[:3]) == (2, "x", None)
    assert not found[3]


def test_only_plain_placeholders_are_taken() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        _numbered("SELECT 1 WHERE name LIKE 'a%%' AND id = %s")
    assert _numbered("SELECT %s, %s") == "SELECT $1, $2"
