"""Reference search, chains and `_has`, and the caller's access scope on all of them."""

import pytest

from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden
from tests.fhirstore.search.querying import ids, observation, patient, put, search

pytestmark = pytest.mark.django_db
ANN = AccessScope(patient_ids=frozenset({"ann"}), actor="patient:ann")


@pytest.fixture
def world():
    put({"resourceType": "Organization", "name": "Leeds GP"}, logical_id="org")
    put({"resourceType": "Practitioner", "name": [{"family": "Who"}]}, logical_id="doc")
    patient("ann", family="Able", managingOrganization={"reference": "Organization/org"})
    patient("bob", family="Baker", generalPractitioner=[{"reference": "Practitioner/doc"}])
    return {
        "ann_hr": observation(subject="Patient/ann", code="8867-4", logical_id="ann-hr"),
        "bob_hr": observation(subject="Patient/bob", code="8867-4", logical_id="bob-hr"),
        "bob_bp": observation(subject="Patient/bob", code="8480-6", logical_id="bob-bp"),
    }


def test_id_type_id_url_and_type_modifier(world, django_assert_num_queries, settings):
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject=Patient/ann")) == ["ann-hr"]
    with django_assert_num_queries(1):
        assert ids(search("Observation", "patient=ann")) == ["ann-hr"]
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject:Patient=ann")) == ["ann-hr"]
    base = settings.FHIR_STORE["PUBLIC_BASE_URL"]
    with django_assert_num_queries(1):
        assert ids(search("Observation", f"subject={base}/Patient/ann")) == ["ann-hr"]
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject=http://elsewhere/fhir/Patient/ann")) == []


def test_identifier_modifier(world, django_assert_num_queries):
    patient("cy")
    doc = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/cy", "identifier": {"system": "urn:nhs", "value": "42"}},
    }
    found = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject:identifier=urn:nhs|42")) == [found]


def test_chain_one_and_two_levels(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject:Patient.family=bak&_sort=_id")) == [
            "bob-bp",
            "bob-hr",
        ]
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject:Patient.organization.name=leeds")) == ["ann-hr"]
    with django_assert_num_queries(1):
        assert ids(
            search("Observation", "patient.general-practitioner.family=who&code=8480-6")
        ) == ["bob-bp"]


def test_has_and_nested_has(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "_has:Observation:patient:code=8480-6")) == ["bob"]
    put(
        {
            "resourceType": "Provenance",
            "target": [{"reference": "Observation/bob-bp"}],
            "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/doc"}}],
        }
    )
    query = "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/doc"
    with django_assert_num_queries(1):
        assert ids(search("Patient", query)) == ["bob"]


def test_has_inside_a_chain(world, django_assert_num_queries):
    query = "subject:Patient._has:Observation:patient:code=8480-6&_sort=_id"
    with django_assert_num_queries(1):
        assert ids(search("Observation", query)) == ["bob-bp", "bob-hr"]


def test_restricted_scope_sees_only_its_compartment_and_total_counts_only_that(
    world, django_assert_num_queries
):
    with django_assert_num_queries(1):
        result = search("Observation", "code=8867-4", scope=ANN)
    assert ids(result) == ["ann-hr"]
    assert result.total == 1


def test_chain_and_has_do_not_reveal_hidden_rows(world, django_assert_num_queries):
    # Ann may not see Bob, so a chain through Bob or a _has from Bob's data finds nothing.
    with django_assert_num_queries(1):
        assert ids(search("Observation", "subject:Patient.family=baker", scope=ANN)) == []
    with django_assert_num_queries(1):
        assert ids(search("Patient", "_has:Observation:patient:code=8480-6", scope=ANN)) == []


def test_type_not_readable_is_forbidden(world):
    scope = AccessScope(patient_ids=frozenset({"ann"}), readable=frozenset({"Patient"}))
    with pytest.raises(Forbidden):
        search("Observation", "code=8867-4", scope=scope)


def test_open_types_are_visible_to_a_restricted_caller(world, django_assert_num_queries):
    scope = AccessScope(patient_ids=frozenset({"ann"}), open_types=frozenset({"Practitioner"}))
    with django_assert_num_queries(1):
        assert ids(search("Practitioner", "family=who", scope=scope)) == ["doc"]
    with django_assert_num_queries(1):
        assert ids(search("Organization", "name=leeds", scope=scope)) == []
