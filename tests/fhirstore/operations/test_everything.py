"""Patient/$everything: the compartment plus referenced non-patient resources, streamed or paged."""

import json

import pytest

from fhirstore.context import SYSTEM, AccessScope
from fhirstore.errors import NotFound
from fhirstore.operations.everything import everything_chunks
from fhirstore.search.result_params import CURSOR
from tests.fhirstore.search.querying import observation, patient, put

pytestmark = pytest.mark.django_db
BASE = "https://ex.org/fhir"


@pytest.fixture
def world():
    put({"resourceType": "Practitioner", "name": [{"family": "Who"}]}, logical_id="doc")
    patient("ann", generalPractitioner=[{"reference": "Practitioner/doc"}])
    patient("bob")
    for n in range(3):
        observation(subject="Patient/ann", logical_id=f"a{n}")
    observation(subject="Patient/bob", logical_id="b0")


def everything(patient_id, query=(), scope=SYSTEM):
    chunks = everything_chunks(
        patient_id=patient_id, params=list(query), scope=scope, base_url=BASE, path="x"
    )
    return json.loads(b"".join(chunks))


def entries(bundle):
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"])


def test_compartment_and_referenced_resources(world, django_assert_num_queries):
    with django_assert_num_queries(3):  # patient check, referenced resources, streamed rows
        bundle = everything("ann")
    assert entries(bundle) == [
        "Observation/a0",
        "Observation/a1",
        "Observation/a2",
        "Patient/ann",
        "Practitioner/doc",
    ]


def test_only_supporting_types_come_by_reference(world):
    put({"resourceType": "Organization", "name": "Clinic"}, logical_id="clinic")
    put({"resourceType": "Medication", "code": {"text": "x"}}, logical_id="med")
    visit = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    put({**visit, "subject": {"reference": "Patient/bob"}}, logical_id="bobs-visit")
    put(visit, logical_id="nobodys-visit")
    observation(
        subject="Patient/ann",
        logical_id="a-ref",
        performer=[{"reference": "Organization/clinic"}],
        encounter={"reference": "Encounter/bobs-visit"},
        hasMember=[{"reference": "Observation/b0"}, {"reference": "Encounter/nobodys-visit"}],
        derivedFrom=[{"reference": "Patient/bob"}, {"reference": "Medication/med"}],
    )

    included = [e for e in everything("ann")["entry"] if e["search"]["mode"] == "include"]

    assert sorted(e["fullUrl"].rsplit("/", 2)[1] for e in included) == [
        "Medication",
        "Organization",
        "Practitioner",
    ]


def test_streamed_rows_come_a_chunk_per_query_each_once(
    world, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr("fhirstore.operations.everything.CHUNK", 2)
    with django_assert_num_queries(5):  # patient check, referenced, rows 1-2, 3-4, none left
        bundle = everything("ann")
    matches = [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert sorted(matches) == ["a0", "a1", "a2", "ann"]
    assert len(matches) == len(set(matches))


def test_the_same_record_comes_back_each_time_its_statements_are_reused(world, monkeypatch):
    """On PostgreSQL one patient's statements are prepared, and after five runs PostgreSQL may
    plan them without their values; every run must read the same record."""
    monkeypatch.setattr("fhirstore.operations.everything.CHUNK", 2)
    first = entries(everything("ann"))
    for _ in range(7):
        assert entries(everything("ann")) == first
    assert entries(everything("bob")) == ["Observation/b0", "Patient/bob"]
    assert len(first) == 5


def test_type_and_since(world):
    assert entries(everything("ann", [("_type", "Patient")])) == ["Patient/ann"]
    assert "entry" not in everything("ann", [("_since", "2999-01-01")])


def test_paging_with_count(world, django_assert_num_queries):
    with django_assert_num_queries(3):
        first = everything("ann", [("_count", "2")])
    assert len(first["entry"]) == 3  # two matches and the practitioner
    next_url = [item["url"] for item in first["link"] if item["relation"] == "next"][0]
    cursor = next_url.split(f"{CURSOR}=")[1]
    from urllib.parse import unquote

    second = everything("ann", [("_count", "2"), (CURSOR, unquote(cursor))])
    third_url = [item["url"] for item in second["link"] if item["relation"] == "next"]
    assert len(second["entry"]) == 2
    assert not third_url


def test_unknown_or_hidden_patient_is_404(world):
    with pytest.raises(NotFound):
        everything("nobody")
    with pytest.raises(NotFound):
        everything("bob", scope=AccessScope(patient_ids=frozenset({"ann"})))


def test_type_level_everything_for_a_restricted_caller_is_their_own(world):
    bundle = everything(None, scope=AccessScope(patient_ids=frozenset({"bob"})))
    assert entries(bundle) == ["Observation/b0", "Patient/bob"]
