"""Quantity (with UCUM canonical units), number, uri and composite searches."""

import pytest

from tests.fhirstore.search.querying import UCUM, ids, observation, patient, put, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def weights():
    patient("p")
    observation(subject="Patient/p", code="29463-7", value=72.5, unit="kg", logical_id="kg")
    observation(subject="Patient/p", code="29463-7", value=68000, unit="g", logical_id="g")
    observation(subject="Patient/p", code="2339-0", value=5.4, unit="mmol/L", logical_id="mmol")
    observation(subject="Patient/p", code="2339-0", value=99, unit="mg/dL", logical_id="mgdl")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("value-quantity=72.5", ["kg"]),
        ("value-quantity=72", []),  # 72 means 71.5..72.5 (excl.)
        ("value-quantity=gt70", ["g", "kg", "mgdl"]),
        (f"value-quantity=gt70|{UCUM}|kg", ["kg"]),  # 68000 g is 68 kg
        (f"value-quantity=68|{UCUM}|kg", ["g"]),
        (f"value-quantity=ge70000|{UCUM}|g", ["kg"]),
        ("value-quantity=5.4||mmol/L", ["mmol"]),
        (f"value-quantity=ap5|{UCUM}|mmol/L", ["mmol"]),
        (f"value-quantity=lt100|{UCUM}|mg/dL", ["mgdl"]),  # not converted to mmol/L
        ("value-quantity=ne72.5&code=29463-7", ["g"]),
    ],
)
def test_quantity(weights, query, expected, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Observation", query + "&_sort=_id")) == expected


def test_composite_matches_within_one_component_only(django_assert_num_queries):
    patient("p")
    loinc = "http://loinc.org"

    def component(code, value):
        return {
            "code": {"coding": [{"system": loinc, "code": code}]},
            "valueQuantity": {"value": value, "system": UCUM, "code": "mm[Hg]", "unit": "mmHg"},
        }

    bp = observation(
        subject="Patient/p",
        code="85354-9",
        component=[component("8480-6", 150), component("8462-4", 90)],
    )
    with django_assert_num_queries(1):
        assert ids(
            search("Observation", f"component-code-value-quantity={loinc}|8480-6$gt140")
        ) == [bp]
    with django_assert_num_queries(1):  # 8462-4 is 90: the 150 belongs to another component
        assert (
            ids(search("Observation", f"component-code-value-quantity={loinc}|8462-4$gt140")) == []
        )


def test_number(django_assert_num_queries):
    patient("p")
    doc = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "prediction": [{"probabilityDecimal": 0.25}],
    }
    risk = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("RiskAssessment", "probability=0.25")) == [risk]
    with django_assert_num_queries(1):
        assert ids(search("RiskAssessment", "probability=gt0.3")) == []
    with django_assert_num_queries(1):
        assert ids(search("RiskAssessment", "probability=le0.25")) == [risk]


def test_uri_exact_below_above(django_assert_num_queries):
    doc = {
        "resourceType": "ValueSet",
        "status": "active",
        "url": "http://acme.org/fhir/ValueSet/123",
    }
    value_set = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("ValueSet", "url=http://acme.org/fhir/ValueSet/123")) == [value_set]
    with django_assert_num_queries(1):
        assert ids(search("ValueSet", "url=http://acme.org/fhir")) == []
    with django_assert_num_queries(1):
        assert ids(search("ValueSet", "url:below=http://acme.org/fhir")) == [value_set]
    with django_assert_num_queries(1):
        assert ids(
            search("ValueSet", "url:above=http://acme.org/fhir/ValueSet/123/_history/5")
        ) == [value_set]
