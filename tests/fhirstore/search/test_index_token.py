"""Token rows: codings, identifiers with `:of-type`, booleans, codes, CodeableConcept text."""

import pytest

from fhirstore.models import SearchToken
from tests.fhirstore.search.indexing import example, rows, store

pytestmark = pytest.mark.django_db

LOINC = "http://loinc.org"


def test_codeable_concept_gives_a_row_per_coding_with_normalised_display():
    obs = store(example("observation-example-bloodpressure"))

    assert rows(SearchToken, "code", obs) == [
        ("", "", "blood pressure systolic & diastolic"),  # code.text, for :text
        (LOINC, "85354-9", "blood pressure panel with all children optional"),
    ]
    assert (
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        "vital signs",
    ) in rows(SearchToken, "category", obs)


def test_concept_text_differing_from_displays_gets_a_text_only_row():
    doc = example("observation-example-bloodpressure")
    doc["code"]["text"] = "Blóod  Pressure"

    obs = store(doc)

    assert ("", "", "blood pressure") in rows(SearchToken, "code", obs)


def test_identifier_row_and_of_type_row():
    patient = store(example("patient-example"))

    assert ("urn:oid:1.2.36.146.595.217.0.1", "12345", "") in rows(
        SearchToken, "identifier", patient
    )
    assert rows(SearchToken, "identifier:of-type", patient) == [
        ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "12345")
    ]


def test_boolean_and_code_values():
    patient = store(example("patient-example"))

    assert rows(SearchToken, "active", patient) == [("", "true", "")]
    assert rows(SearchToken, "gender", patient) == [("", "male", "")]
    assert rows(SearchToken, "_id", patient) == [("", "example", "")]


def test_deceased_is_false_when_absent_and_true_for_a_date():
    alive = example("patient-example")
    dead = {**alive, "id": "dead", "deceasedDateTime": "2020-01-01"}
    alive_row, dead_row = store(alive), store(dead)

    assert rows(SearchToken, "deceased", alive_row) == [("", "false", "")]
    assert rows(SearchToken, "deceased", dead_row) == [("", "true", "")]


def test_contact_point_where_system_selects_phone_or_email():
    patient = store(example("patient-example"))

    assert ("phone", "(03) 5555 6473", "") in rows(SearchToken, "phone", patient)
    assert rows(SearchToken, "email", patient) == []


def test_meta_tags_index_as_tag():
    doc = example("patient-example")
    doc["meta"] = {"tag": [{"system": "http://example.org/tags", "code": "vip"}]}

    patient = store(doc)

    assert rows(SearchToken, "_tag", patient) == [("http://example.org/tags", "vip", "")]


def test_reference_identifier_is_a_token_row_for_the_identifier_modifier():
    doc = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"text": "x"},
        "subject": {
            "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}
        },
    }

    obs = store(doc)

    assert rows(SearchToken, "subject:identifier", obs) == [
        ("https://fhir.nhs.uk/Id/nhs-number", "9000000009", "")
    ]
