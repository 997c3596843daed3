"""`_include`, `_revinclude`, `:iterate` and `*`: one query per level, no cap, access applies."""

import pytest

from fhirstore.context import AccessScope
from tests.fhirstore.search.querying import included_ids, observation, patient, put, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    put({"resourceType": "Practitioner", "name": [{"family": "Who"}]}, logical_id="doc")
    patient("ann", generalPractitioner=[{"reference": "Practitioner/doc"}])
    patient("bob")
    for n in range(3):
        observation(subject="Patient/ann", logical_id=f"a{n}")
    observation(subject="Patient/bob", logical_id="b0")
    put(
        {
            "resourceType": "Provenance",
            "target": [{"reference": "Patient/ann"}],
            "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/doc"}}],
        },
        logical_id="prov",
    )


def test_include_targets_once(world, django_assert_num_queries):
    with django_assert_num_queries(2):
        result = search("Observation", "_include=Observation:subject")
    assert included_ids(result) == ["Patient/ann", "Patient/bob"]


def test_include_with_target_type_and_wildcard(world, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert included_ids(search("Observation", "_include=Observation:subject:Group")) == []
    with django_assert_num_queries(2):
        assert included_ids(search("Patient", "_id=ann&_include=*")) == ["Practitioner/doc"]


def test_revinclude(world, django_assert_num_queries):
    with django_assert_num_queries(2):
        result = search(
            "Patient", "_id=ann&_revinclude=Observation:subject&_revinclude=Provenance:target"
        )
    assert included_ids(result) == [
        "Observation/a0",
        "Observation/a1",
        "Observation/a2",
        "Provenance/prov",
    ]


def test_iterate_goes_one_level_further_per_query(world, django_assert_num_queries):
    query = "_id=a0&_include=Observation:subject&_include:iterate=Patient:general-practitioner"
    with django_assert_num_queries(3):
        result = search("Observation", query)
    assert included_ids(result) == ["Patient/ann", "Practitioner/doc"]


def test_includes_are_not_capped(world, django_assert_num_queries):
    for n in range(3, 130):
        observation(subject="Patient/ann", logical_id=f"a{n}")
    with django_assert_num_queries(2):
        result = search("Patient", "_id=ann&_revinclude=Observation:subject")
    assert len(result.included) == 130


def test_included_rows_respect_the_scope(world, django_assert_num_queries):
    ann = AccessScope(patient_ids=frozenset({"ann"}))
    with django_assert_num_queries(2):
        result = search(
            "Practitioner",
            "_revinclude=Patient:general-practitioner",
            scope=AccessScope(
                patient_ids=frozenset({"ann"}), open_types=frozenset({"Practitioner"})
            ),
        )
    assert included_ids(result) == ["Patient/ann"]
    with django_assert_num_queries(2):
        assert included_ids(search("Observation", "_include=Observation:subject", scope=ann)) == [
            "Patient/ann"
        ]
