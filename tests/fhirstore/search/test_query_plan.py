"""The hot patient-scoped search is answerable from indexes: on PostgreSQL its plan, with
sequential scans discouraged (test tables are tiny), touches no table by a sequential scan.
On SQLite the query still runs and is checked for its result; only the plan assertion is
PostgreSQL's."""

import pytest
from django.db import connection

from fhirstore.context import SYSTEM, AccessScope
from fhirstore.search import compiled
from fhirstore.search.engine import matching_rows
from fhirstore.search.paging import ordered
from fhirstore.search.parse import parse_search
from tests.fhirstore.search.querying import generic_plan, observation, patient

pytestmark = pytest.mark.django_db
QUERIES = [
    [("patient", "p1"), ("category", "vital-signs"), ("_count", "50")],
    [("code", "http://loinc.org|8867-4"), ("date", "ge2015-01-01"), ("_sort", "-date")],
]


@pytest.mark.parametrize("params", QUERIES)
def test_patient_scoped_search_plan_uses_indexes(
    params, database_vendor, django_assert_num_queries
):
    patient("p1")
    patient("p2")
    expected = observation(subject="Patient/p1")
    observation(subject="Patient/p2")
    request = parse_search(resource_type="Observation", params=params)
    scope = AccessScope(patient_ids=frozenset({"p1"}))
    rows = ordered(matching_rows(request=request, scope=scope), request.sort)[: request.count]
    with django_assert_num_queries(1):
        assert [row.logical_id for row in rows] == [expected]
    if database_vendor != "postgresql":
        return
    sql, sql_params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, sql_params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan


def test_date_sort_joins_one_sort_row_and_reads_no_resource_before_intersecting(
    database_vendor, django_assert_num_queries
):
    patient("p1")
    expected = observation(subject="Patient/p1", code="29463-7", when="2024-05-01")
    observation(subject="Patient/p1", code="29463-7", when="2010-05-01")
    observation(subject="Patient/p1", code="8867-4", when="2024-05-01")
    params = [("code", "http://loinc.org|29463-7"), ("date", "ge2015-01-01"), ("_sort", "-date")]
    request = parse_search(resource_type="Observation", params=params)
    rows = ordered(matching_rows(request=request, scope=AccessScope()), request.sort)
    with django_assert_num_queries(1):
        assert [row.logical_id for row in rows] == [expected]
    if database_vendor != "postgresql":
        return
    sql, sql_params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, sql_params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    # The sort value is a joined row, not a subquery evaluated per matched resource.
    assert "SubPlan" not in plan, plan
    assert "date:sort" in plan


@pytest.mark.parametrize("params", QUERIES)
def test_compiled_search_plan_uses_indexes(params, database_vendor, django_assert_num_queries):
    patient("p1")
    expected = observation(subject="Patient/p1")
    observation(subject="Patient/p2")
    request = parse_search(resource_type="Observation", params=params)
    scope = AccessScope(patient_ids=frozenset({"p1"}))
    found = compiled.plan(request, scope, None)
    assert found is not None
    with django_assert_num_queries(1):
        assert [row[2] for row in compiled.fetch(found, None, request.count)] == [expected]
    if database_vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + compiled.ids_sql(found)[0], compiled.ids_sql(found)[1])
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Seq Scan" not in plan, plan


@pytest.mark.postgres
def test_token_statistics_know_a_code_implies_its_parameter():
    with connection.cursor() as cursor:
        cursor.execute("SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'stoken_code_stats'")
        assert cursor.fetchone() is not None


@pytest.mark.postgres
def test_a_pinned_search_checks_its_other_criteria_on_the_patients_rows_in_any_plan():
    """A prepared statement may run a generic plan, made without the values: the patient's rows
    must still drive, each other criterion a probe of their own index rows, never a scan of
    every row with that category (which a generic plan once chose)."""
    patient("p1")
    observation(subject="Patient/p1")
    params = [("patient", "p1"), ("category", "vital-signs"), ("code", "8867-4")]
    found = compiled.plan(parse_search(resource_type="Observation", params=params), SYSTEM, None)
    assert found is not None
    assert found.pinned
    plan = generic_plan(*compiled.count_sql(found))
    assert "(SubPlan 1) AND (SubPlan 2)" in plan, plan  # a probe per row for each
    assert plan.count("Index Only Scan using stoken_resource") == 2, plan
    # probed on the patient's index rows, before any resource row is read
    assert plan.count("Index Cond: ((resource_id = i0.resource_id)") == 2, plan
