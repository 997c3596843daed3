"""Reference rows: relative, absolute (ours and others'), canonical, typed by resolve()."""

import pytest
from django.test import override_settings

from fhirstore.models import SearchReference
from fhirstore.search.types.reference import parse_reference
from tests.fhirstore.search.indexing import example, rows, store

pytestmark = pytest.mark.django_db
BASE = "https://ehr.example.org/fhir"


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("Patient/123", ("Patient", "123", "")),
        ("Patient/123/_history/4", ("Patient", "123", "")),
        (f"{BASE}/Patient/123", ("Patient", "123", "")),
        (f"{BASE}/Patient/123/_history/2", ("Patient", "123", "")),
        ("http://other.org/fhir/Patient/9", ("Patient", "", "http://other.org/fhir/Patient/9")),
        (
            "http://hl7.org/fhir/Questionnaire/phq9|1.0",
            ("", "", "http://hl7.org/fhir/Questionnaire/phq9"),
        ),
        (
            "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
            ("", "", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"),
        ),
        ("#contained", None),
    ],
)
def test_parse_reference(text, row):
    assert parse_reference(text, base=BASE) == row


def test_subject_and_patient_rows_for_a_patient_subject():
    obs = store(example("observation-example-bloodpressure"))

    assert rows(SearchReference, "subject", obs) == [("Patient", "example", "")]
    assert rows(SearchReference, "patient", obs) == [("Patient", "example", "")]
    assert rows(SearchReference, "performer", obs) == [("Practitioner", "example", "")]


def test_resolve_is_filters_by_target_type():
    doc = example("observation-example-bloodpressure")
    doc["subject"] = {"reference": "Group/g1"}

    obs = store(doc)

    assert rows(SearchReference, "subject", obs) == [("Group", "g1", "")]
    assert rows(SearchReference, "patient", obs) == []


def test_appointment_actor_split_by_type():
    appointment = store(example("appointment-example"))

    assert rows(SearchReference, "actor", appointment) == [
        ("Location", "1", ""),
        ("Patient", "example", ""),
        ("Practitioner", "example", ""),
    ]
    assert rows(SearchReference, "practitioner", appointment) == [("Practitioner", "example", "")]
    assert rows(SearchReference, "location", appointment) == [("Location", "1", "")]


def test_contained_reference_is_not_indexed():
    response = store(example("questionnaireresponse-example"))

    assert rows(SearchReference, "subject", response) == []


@override_settings(FHIR_STORE={"PUBLIC_BASE_URL": BASE})
def test_absolute_reference_to_our_own_server_is_local():
    doc = example("observation-example-bloodpressure")
    doc["subject"] = {"reference": f"{BASE}/Patient/example"}

    obs = store(doc)

    assert rows(SearchReference, "patient", obs) == [("Patient", "example", "")]


def test_reference_with_type_and_identifier_only():
    doc = example("observation-example-bloodpressure")
    doc["subject"] = {"type": "Patient", "identifier": {"system": "urn:s", "value": "v"}}

    obs = store(doc)

    assert rows(SearchReference, "subject", obs) == []
    assert rows(SearchReference, "patient", obs) == []
