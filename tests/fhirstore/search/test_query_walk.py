"""A token search sorted newest first walks the token index (`walk.py`) and finds exactly what
the ORM query finds, in the same order, page by page in both directions, whatever share of the
candidates the other conditions drop: one round, several, or the general plan after them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fhirstore.context import SYSTEM, AccessScope
from fhirstore.repository import Repository
from fhirstore.search import compiled, walk
from fhirstore.search.engine import execute_search
from tests.fhirstore.search.querying import LOINC, generic_plan, observation, patient, put
from tests.fhirstore.search.test_query_compiled import compiled_ids, orm_ids, request_of

pytestmark = pytest.mark.django_db
ALICE = AccessScope(patient_ids=frozenset({"alice"}), actor="Patient/alice")
WEIGHT = f"code={LOINC}|29463-7"


@pytest.fixture
def weights():
    """40 body weights: bob's 36 and alice's 4 (the oldest), ties, an undated one, a deleted
    one, another code, and one that carries the code twice."""
    patient("alice")
    patient("bob")
    for n in range(40):
        who = "alice" if n % 10 == 0 else "bob"
        when = f"20{10 + n // 28}-0{1 + n % 9}-{1 + n % 28:02d}"
        when = "2010-08-08" if n == 8 else when  # w07 and w08 tie on the same day
        observation(subject=f"Patient/{who}", code="29463-7", when=when, logical_id=f"w{n:02}")
    observation(subject="Patient/bob", code="8867-4", when="2030-01-01", logical_id="pulse")
    undated = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
        "subject": {"reference": "Patient/bob"},
    }
    put(undated, logical_id="undated")
    twice = {**undated, "effectiveDateTime": "2011-05-05"}
    twice["code"] = {"coding": [{"system": LOINC, "code": "29463-7"}] * 2}
    put(twice, logical_id="twice")
    Repository(scope=SYSTEM).delete(resource_type="Observation", logical_id="w03")


SHAPES = [
    f"{WEIGHT}&_sort=-date",
    f"{WEIGHT}&date=ge2011-01-01&_sort=-date",
    f"{WEIGHT}&date=lt2010-06-01&_sort=-date",
    f"{WEIGHT}&patient=Patient/alice,Patient/bob&_sort=-date",
    "code=29463-7&_sort=-date",
    f"code={LOINC}|29463-7,{LOINC}|8867-4&_sort=-date",
    "category=vital-signs&status=final&_sort=-date",
]


@pytest.mark.parametrize("query", SHAPES)
@pytest.mark.parametrize("scope", [SYSTEM, ALICE], ids=["system", "alice"])
def test_the_walk_finds_what_the_orm_finds(weights, query, scope):
    request = request_of("Observation", query)
    found = compiled.plan(request, scope, None)
    assert found is not None
    assert found.walk is not None

    assert compiled_ids(request, scope) == orm_ids(request, scope)
    assert compiled.count(found) == len(orm_ids(request, scope))


def test_newest_first_then_ties_by_newest_id_then_undated_and_each_once(weights):
    found = compiled_ids(request_of("Observation", f"{WEIGHT}&_sort=-date"), SYSTEM)

    assert found[:3] == ["w35", "w34", "w33"]
    assert found[-1] == "undated"
    assert found.index("w08") == found.index("w07") - 1
    assert found.count("twice") == 1
    assert "w03" not in found
    assert "pulse" not in found
    assert len(found) == 41  # w00..w39 but the deleted w03, twice and undated


@pytest.mark.parametrize("scope", [SYSTEM, ALICE], ids=["system", "alice"])
@pytest.mark.parametrize("rounds", [1, walk.ROUNDS])
def test_paging_forward_and_back_visits_every_match_once(weights, scope, rounds, monkeypatch):
    monkeypatch.setattr(walk, "ROUNDS", rounds)
    expected = orm_ids(request_of("Observation", f"{WEIGHT}&_sort=-date"), scope)
    pages, cursor = [], None
    while True:
        page = _page(f"_count=3{cursor and f'&_cursor={cursor}' or ''}", scope)
        pages.append([row.id for row in page.matches])
        if not (cursor := page.next_cursor):
            break
    assert [i for page in pages for i in page] == expected
    back, cursor = [], page.previous_cursor
    while cursor:
        page = _page(f"_count=3&_cursor={cursor}", scope)
        back.insert(0, [row.id for row in page.matches])
        cursor = page.previous_cursor
    assert back == pages[:-1]


def _page(extra: str, scope: AccessScope):
    request = request_of("Observation", f"{WEIGHT}&_sort=-date&{extra}")
    return execute_search(request=request, scope=scope)


def test_a_full_first_round_is_one_query(weights, django_assert_num_queries):
    found = compiled.plan(request_of("Observation", f"{WEIGHT}&_sort=-date"), SYSTEM, None)
    with django_assert_num_queries(1):
        assert len(compiled.fetch(found, None, 10)) == 10


def test_other_shapes_keep_the_general_plan(weights):
    for query in [
        f"{WEIGHT}&_sort=date",
        f"{WEIGHT}&_sort=-_lastUpdated",
        f"{WEIGHT}&_sort=-date,_id",
        f"{WEIGHT}&patient=Patient/bob&_sort=-date",
        "date=ge2011-01-01&_sort=-date",
        "code:text=weight&_sort=-date",
    ]:
        found = compiled.plan(request_of("Observation", query), SYSTEM, None)
        assert found is not None
        assert found.walk is None, query


@pytest.mark.postgres
def test_a_round_reads_the_newest_rows_of_the_code_from_the_index(weights):
    found = compiled.plan(request_of("Observation", f"{WEIGHT}&_sort=-date"), SYSTEM, None)
    with CaptureQueriesContext(connection) as queries:
        compiled.fetch(found, None, 5)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Index Only Scan Backward using stoken_code_date" in plan, plan


def test_a_sparse_code_takes_rounds_and_still_finds_the_same(weights):
    request = request_of("Observation", f"{WEIGHT}&_sort=-date")
    found = compiled.plan(request, ALICE, None)
    with CaptureQueriesContext(connection) as queries:
        rows = compiled.fetch(found, None, 3)  # alice holds 4 of the 41, spread over the years
    assert len(queries.captured_queries) > 2
    assert [row[2] for row in rows] == orm_ids(request, ALICE)[:3]


@pytest.mark.postgres
def test_a_round_probes_each_candidate_for_the_other_criteria_in_any_plan(weights):
    """The round statement is prepared, so PostgreSQL may run a generic plan made without the
    values: it must still walk the code's index rows newest first and check the date of each
    candidate alone, before reading its resource row, never join every dated row."""
    query = f"{WEIGHT}&date=ge2011-01-01&_sort=-date"
    found = compiled.plan(request_of("Observation", query), ALICE, None)
    assert found is not None
    assert found.walk is not None
    plan = generic_plan(*walk.round_sql(found.walk, None, 12, False))
    assert "Index Only Scan Backward using stoken_code_date" in plan, plan
    candidates = plan.split("fhirstore_resource_pkey", 1)[0]  # what comes before a resource row
    assert "CTE Scan on c" in candidates, plan
    assert "Filter: (SubPlan" in candidates, plan
    assert "Index Cond: ((resource_id = c.resource_id)" in candidates, plan


def test_the_same_pages_come_back_each_time_the_round_statement_is_reused(weights):
    """PostgreSQL plans a prepared statement afresh five times, then may keep a generic plan:
    the rows must not change with it (on PostgreSQL every run here takes the generic plan)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    for n in range(8):
        query = f"{WEIGHT}&date=ge201{n % 3}-01-01&_sort=-date"
        for scope in (SYSTEM, ALICE):
            assert compiled_ids(request_of("Observation", query), scope) == orm_ids(
                request_of("Observation", query), scope
            ), (query, scope)
