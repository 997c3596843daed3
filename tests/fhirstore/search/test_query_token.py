"""Token search and its modifiers, `_id`, and `:missing`; every search is one SQL query."""

import pytest

from tests.fhirstore.search.querying import LOINC, ids, observation, patient, put, search

pytestmark = pytest.mark.django_db
NHS = "https://fhir.nhs.uk/Id/nhs-number"


@pytest.fixture
def people():
    patient("a", identifier=[{"system": NHS, "value": "111"}], gender="female", active=True)
    patient(
        "b",
        identifier=[
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "urn:mrn",
                "value": "222",
            }
        ],
        gender="male",
    )
    patient("c")


def test_code_system_and_code_forms(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", f"identifier={NHS}|111")) == ["a"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "identifier=222")) == ["b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "identifier=urn:mrn|")) == ["b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "identifier=|222")) == []
    with django_assert_num_queries(1):
        assert ids(search("Patient", "gender=male,female&_sort=_id")) == ["a", "b"]


def test_not_includes_resources_without_a_value(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "gender:not=male&_sort=_id")) == ["a", "c"]


def test_missing(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "gender:missing=true")) == ["c"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "active:missing=false")) == ["a"]


def test_of_type_on_identifier(people, django_assert_num_queries):
    query = "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|222"
    with django_assert_num_queries(1):
        assert ids(search("Patient", query)) == ["b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", query.replace("222", "111"))) == []


def test_text_matches_display_case_and_accent_insensitively(django_assert_num_queries):
    patient("p")
    doc = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p"},
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabète sucré"}
            ]
        },
    }
    condition = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("Condition", "code:text=DIABETE")) == [condition]


def test_below_on_mime_types(django_assert_num_queries):
    patient("p")
    doc = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": "Patient/p"},
        "content": [{"attachment": {"contentType": "text/plain"}}],
    }
    document = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("DocumentReference", "contenttype:below=text")) == [document]
    with django_assert_num_queries(1):
        assert ids(search("DocumentReference", "contenttype:below=image")) == []


def test_id_and_id_not(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "_id=a,c&_sort=_id")) == ["a", "c"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "_id:not=a&_sort=_id")) == ["b", "c"]


def test_observation_code_or_across_systems(django_assert_num_queries):
    patient("p")
    first = observation(subject="Patient/p", code="8867-4")
    observation(subject="Patient/p", code="8480-6")
    with django_assert_num_queries(1):
        assert ids(search("Observation", f"code={LOINC}|8867-4,http://other|8480-6")) == [first]
