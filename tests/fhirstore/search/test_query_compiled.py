"""The directly written SQL of `compiled.py` finds exactly what the ORM query finds, in the same
order, for every shape it takes on; the shapes it leaves to the ORM get no plan."""

from urllib.parse import parse_qsl

import pytest

from fhirstore.context import SYSTEM, AccessScope
from fhirstore.search import compiled
from fhirstore.search.engine import matching_rows
from fhirstore.search.paging import after, decode_cursor, ordered
from fhirstore.search.parse import parse_search
from fhirstore.search.request import SearchRequest
from tests.fhirstore.search.querying import LOINC, observation, patient, put, search

pytestmark = pytest.mark.django_db
ALICE = AccessScope(patient_ids=frozenset({"alice"}), actor="Patient/alice")

SHAPES = [
    ("Observation", "patient=alice&category=vital-signs"),
    ("Observation", "subject=Patient/bob&_sort=-date"),
    ("Observation", f"code={LOINC}|29463-7&date=ge2024-02-01&_sort=-date"),
    ("Observation", "code=29463-7,8867-4&_sort=date,-_lastUpdated"),
    ("Observation", "date=lt2024-03-01&date=ge2024-01-15&_sort=_id"),
    ("Observation", "date=ap2024-02-01"),
    ("Observation", "value-quantity=gt70"),
    ("Observation", "value-quantity=70|http://unitsofmeasure.org|kg"),
    ("Observation", "code:below=8867&code:text=heart"),
    ("Patient", "name=ali&_sort=-_lastUpdated"),
    ("Patient", "name:contains=o_b%&gender=female"),
    ("Patient", "name:exact=Alice"),
]


@pytest.fixture
def records():
    patient("alice", given="Alice", gender="female")
    patient("bob", given="Bob", gender="male")
    for n, (who, code, when, value) in enumerate(
        [
            ("alice", "29463-7", "2024-01-10", 70.0),
            ("alice", "8867-4", "2024-02-10", 61.0),
            ("alice", "29463-7", "2024-03-10T08:00:00Z", 71.5),
            ("bob", "29463-7", "2024-02-01", 90.0),
            ("bob", "8867-4", "2024-01-20", 75.0),
            ("bob", "29463-7", "2024-02-01", 88.0),
        ]
    ):
        unit = "kg" if code == "29463-7" else "/min"
        observation(
            subject=f"Patient/{who}",
            code=code,
            when=when,
            value=value,
            unit=unit,
            logical_id=f"o{n}",
            category="vital-signs" if n % 3 else "laboratory",
        )
    put({"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"}})


def request_of(resource_type: str, query: str) -> SearchRequest:
    params = parse_qsl(query, keep_blank_values=True)
    return parse_search(resource_type=resource_type, params=params, strict=True)


def orm_ids(request: SearchRequest, scope: AccessScope, compartment=None, boundary=None):
    rows = matching_rows(request=request, scope=scope, compartment=compartment)
    rows = ordered(rows, request.sort, backwards=bool(boundary and boundary.backwards))
    if boundary is not None:
        rows = rows.filter(after(boundary, request.sort))
    return [values["logical_id"] for values in rows.values("logical_id")]


def compiled_ids(request, scope, compartment=None, boundary=None):
    found = compiled.plan(request, scope, compartment)
    assert found is not None
    return [row[2] for row in compiled.fetch(found, boundary, 100)]  # pk, type, id, text


@pytest.mark.parametrize(("resource_type", "query"), SHAPES)
@pytest.mark.parametrize("scope", [SYSTEM, ALICE], ids=["system", "alice"])
def test_compiled_sql_finds_what_the_orm_finds(records, resource_type, query, scope):
    request = request_of(resource_type, query)
    found = compiled.plan(request, scope, None)
    assert found is not None
    assert compiled_ids(request, scope) == orm_ids(request, scope)
    assert compiled.count(found) == len(orm_ids(request, scope))


def test_compartment_search_and_open_types(records):
    request = request_of("Observation", "code=29463-7&_sort=-date")
    bobs = ("Patient", "bob")
    assert compiled_ids(request, SYSTEM, bobs) == orm_ids(request, SYSTEM, bobs) == ["o5", "o3"]
    open_observations = AccessScope(
        patient_ids=frozenset({"alice"}), open_types=frozenset({"Observation"})
    )
    everyones = ["o2", "o5", "o3", "o0"]  # o5 and o3 tie on the date: newest id first
    assert compiled_ids(request, open_observations) == orm_ids(request, open_observations)
    assert compiled_ids(request, open_observations) == everyones
    assert compiled_ids(request, ALICE) == ["o2", "o0"]


def test_a_caller_with_no_patients_finds_nothing(records, django_assert_num_queries):
    nobody = AccessScope(patient_ids=frozenset(), actor="Practitioner/nobody")
    request = request_of("Observation", "code=29463-7")
    assert compiled_ids(request, nobody) == orm_ids(request, nobody) == []
    with django_assert_num_queries(1):
        assert search("Observation", "_total=accurate", scope=nobody).total == 0


def test_keyset_pages_match_the_orm_both_ways(records):
    first = search("Observation", "_sort=-date&_count=2")
    request = request_of("Observation", "_sort=-date&_count=2")
    context = f"Observation|()|None|{[]}"
    forward = decode_cursor(first.next_cursor, request.sort, context)
    assert compiled_ids(request, SYSTEM, boundary=forward) == orm_ids(
        request, SYSTEM, None, forward
    )
    second = search("Observation", f"_sort=-date&_count=2&_cursor={first.next_cursor}")
    backward = decode_cursor(second.previous_cursor, request.sort, context)
    assert compiled_ids(request, SYSTEM, boundary=backward) == orm_ids(
        request, SYSTEM, None, backward
    )


@pytest.mark.parametrize(
    ("resource_type", "query"),
    [
        ("Observation", "subject:Patient.name=alice"),
        ("Patient", "_has:Observation:patient:code=8867-4"),
        ("Observation", "code:not=8867-4"),
        ("Observation", "value-quantity:missing=true"),
        ("Observation", "_id=o1"),
        ("Observation", "_lastUpdated=gt2020"),
        ("Observation", "code-value-quantity=29463-7$gt70"),
        ("Observation", "_sort=value-quantity"),
        (None, "_type=Patient,Observation"),
    ],
)
def test_shapes_left_to_the_orm_get_no_plan(resource_type, query):
    assert compiled.plan(request_of(resource_type, query), SYSTEM, None) is None


def test_granular_scopes_are_left_to_the_orm():
    scope = AccessScope(type_filters={"Observation": ("category=vital-signs",)})
    assert compiled.plan(request_of("Observation", "code=8867-4"), scope, None) is None


@pytest.mark.parametrize(
    ("query", "compartment", "pinned"),
    [
        ("patient=alice&category=vital-signs", None, True),
        ("subject=Patient/bob&_sort=-date", None, True),
        ("category=vital-signs", ("Patient", "alice"), True),
        ("patient=alice,bob", None, False),  # two patients: no longer bounded by one record
        (f"code={LOINC}|29463-7&date=ge2024-02-01&_sort=-date", None, False),
    ],
)
def test_only_searches_pinned_to_one_patient_are_prepared(query, compartment, pinned):
    found = compiled.plan(request_of("Observation", query), SYSTEM, compartment)

    assert found is not None
    assert found.pinned is pinned
