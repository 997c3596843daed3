"""Search against the spec's own examples (tests/data/r4-examples): name and address parts,
`:missing` on every parameter type, escapes, composites across components, and bad values."""

import pytest

from fhirstore.errors import InvalidRequest
from tests.fhirstore.search.indexing import example
from tests.fhirstore.search.querying import ids, patient, put, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def examples():
    """Patient/example (Peter James Chalmers), the blood pressure Observation (systolic 107,
    diastolic 60 mm[Hg] as components, no value) and a RiskAssessment with probabilities."""
    put(example("patient-example"), logical_id="example")
    put(example("observation-example-bloodpressure"), logical_id="blood-pressure")
    put(example("riskassessment-example"), logical_id="genetic")
    patient("bare", family="Bare")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=peter", ["example"]),
        ("name=WINDSOR", ["example"]),  # the maiden name
        ("name=jim", ["example"]),  # a name with given only
        ("given=jam", ["example"]),
        ("family=chalm", ["example"]),
        ("address=534 erewhon", ["example"]),  # line
        ("address=erewhon", []),  # starts-with, on each part
        ("address:contains=erewhon", ["example"]),
        ("address=pleasantville", ["example"]),  # city
        ("address=rainbow", ["example"]),  # district
        ("address-postalcode=3999", ["example"]),
        ("address-state=vic", ["example"]),
        ("address-use=home", ["example"]),
        ("name=rainbow", []),
    ],
)
def test_human_name_and_address_parts(examples, query, expected, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", query)) == expected


@pytest.mark.parametrize(
    ("resource_type", "param", "present", "absent"),
    [
        ("Patient", "family", "example", "nobody"),  # string
        ("Patient", "gender", "example", "bare"),  # token
        ("Patient", "birthdate", "example", "bare"),  # date
        ("Patient", "organization", "example", "bare"),  # reference
        ("Observation", "component-value-quantity", "blood-pressure", "nobody"),  # quantity
        ("Observation", "value-quantity", "nobody", "blood-pressure"),  # quantity, absent
        ("RiskAssessment", "probability", "genetic", "nobody"),  # number
        ("Patient", "_profile", "nobody", "bare"),  # uri
        ("Observation", "component-code-value-quantity", "blood-pressure", "nobody"),  # composite
        ("Observation", "code-value-quantity", "nobody", "blood-pressure"),  # composite, absent
    ],
)
def test_missing_on_every_parameter_type(
    examples, resource_type, param, present, absent, django_assert_num_queries
):
    with django_assert_num_queries(1):
        without = ids(search(resource_type, f"{param}:missing=true"))
    with django_assert_num_queries(1):
        with_value = ids(search(resource_type, f"{param}:missing=false"))
    assert present == "nobody" or present in with_value
    assert absent == "nobody" or absent in without
    assert not set(without) & set(with_value)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("component-code-value-quantity=http://loinc.org|8480-6$gt100", ["blood-pressure"]),
        ("component-code-value-quantity=http://loinc.org|8480-6$gt110", []),
        ("component-code-value-quantity=http://loinc.org|8462-4$lt100", ["blood-pressure"]),
        # 107 is the systolic value: it must not pair with the diastolic code.
        ("component-code-value-quantity=http://loinc.org|8462-4$107", []),
        (
            "component-code-value-quantity=8480-6$107|http://unitsofmeasure.org|mm[Hg]",
            ["blood-pressure"],
        ),
        ("component-code-value-quantity=8480-6$lt1,8462-4$60", ["blood-pressure"]),
        ("component-value-quantity=60", ["blood-pressure"]),
        ("code-value-quantity=http://loinc.org|85354-9$gt0", []),
    ],
)
def test_composite_pairs_values_within_one_component(
    examples, query, expected, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert ids(search("Observation", query)) == expected


def test_escaped_separators_are_literal(django_assert_num_queries):
    patient("comma", family="Smith,Jones")
    patient("smith", family="Smith")
    put(
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:x", "value": "a|b$c"}],
        },
        logical_id="pipe",
    )

    with django_assert_num_queries(1):
        assert ids(search("Patient", r"family=Smith\,Jones")) == ["comma"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "family:exact=Smith,Jones")) == ["smith"]  # an OR
    with django_assert_num_queries(1):
        assert ids(search("Patient", r"identifier=urn:x|a\|b\$c")) == ["pipe"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", r"identifier=urn:x|a\|b")) == []


@pytest.mark.parametrize(
    "query",
    [
        "birthdate=2024-02-30",
        "birthdate=ge2024-13",
        "birthdate=zz2024",
        "birthdate=2024-01-01T25:00",
        "general-practitioner:Nope=1",
        "general-practitioner=a/b/c",
        "_has:Observation:patient=1",
        "_has:Nope:patient:code=1",
        "_sort=-",
        "_sort=nope",
        "_sort=name,,family",
        "_include=Nope:x",
        "_include=Patient:family",
        "_revinclude=Observation",
        "_summary=some",
        "_total=maybe",
        "_count=-1",
        "family:sounds=x",
        "gender:missing=maybe",
        "identifier:of-type=only|two",
    ],
)
def test_bad_values_are_invalid_requests(query):
    with pytest.raises(InvalidRequest) as raised:
        search("Patient", query)
    assert raised.value.http_status == 400
    assert raised.value.diagnostics


@pytest.mark.parametrize(
    "query", ["organization.nope=1", "nope=1", "_has:Observation:patient:nope=1", "_text=x"]
)
def test_unknown_parameters_are_ignored_unless_strict(examples, query, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", query + "&_sort=_id")) == ["bare", "example"]
    with pytest.raises(InvalidRequest):
        search("Patient", query, strict=True)


@pytest.mark.parametrize(
    "query",
    [
        "probability=xx",
        "probability=gt1e",
        "probability=nan",
        "probability:exact=1",
    ],
)
def test_bad_numbers_are_invalid_requests(query):
    with pytest.raises(InvalidRequest):
        search("RiskAssessment", query)


@pytest.mark.parametrize(
    "query",
    [
        "value-quantity=10|a|b|c",
        "value-quantity=ab|http://unitsofmeasure.org|mg",
        "code-value-quantity=http://loinc.org|8480-6",
        "code-value-quantity=a$b$c",
        "code:text",
    ],
)
def test_bad_quantities_and_composites_are_invalid_requests(query):
    with pytest.raises(InvalidRequest):
        search("Observation", query if "=" in query else query + ":bad=1")
