"""Date search: prefixes as the spec's range table says, partial dates, zones, Periods."""

import pytest

from tests.fhirstore.search.querying import ids, observation, patient, put, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def readings():
    patient("p")
    return {
        "jan": observation(subject="Patient/p", when="2024-01-15T10:00:00Z", logical_id="jan"),
        "feb": observation(subject="Patient/p", when="2024-02", logical_id="feb"),
        "mar": observation(subject="Patient/p", when="2024-03-01T00:30:00+02:00", logical_id="mar"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=2024-01", ["jan"]),
        ("date=eq2024", ["feb", "jan", "mar"]),
        ("date=2024-02-10", []),  # a month is not contained in one day
        ("date=ne2024-02", ["jan"]),  # "mar" is 22:30Z on 29 February
        ("date=gt2024-02-10", ["feb", "mar"]),  # February reaches past the 10th
        ("date=lt2024-02-10", ["feb", "jan"]),
        ("date=ge2024-02", ["feb", "mar"]),
        ("date=le2024-01-15", ["jan"]),
        ("date=sa2024-01-31", ["feb", "mar"]),
        ("date=eb2024-02-01", ["jan"]),
        ("date=ap2020-01-01", []),  # 10% of the time since then is far from 2024
        ("date=2024-02-29", ["mar"]),  # 00:30+02:00 on 1 March is 22:30Z on 29 February
        ("date=ge2024-01-01&date=lt2024-02-01", ["jan"]),
    ],
)
def test_prefix_table(readings, query, expected, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Observation", query + "&_sort=_id")) == expected


def test_period_compared_as_a_range(django_assert_num_queries):
    patient("p")
    doc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p"},
        "period": {"start": "2024-01-30", "end": "2024-02-02"},
    }
    encounter = put(doc)
    with django_assert_num_queries(1):
        assert ids(search("Encounter", "date=2024-01")) == []
    with django_assert_num_queries(1):
        assert ids(search("Encounter", "date=2024")) == [encounter]
    with django_assert_num_queries(1):
        assert ids(search("Encounter", "date=gt2024-01-31")) == [encounter]
    with django_assert_num_queries(1):
        assert ids(search("Encounter", "date=sa2024-01-31")) == []


def test_last_updated(readings, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(ids(search("Observation", "_lastUpdated=gt2020-01-01"))) == 3
    with django_assert_num_queries(1):
        assert ids(search("Observation", "_lastUpdated=lt2020-01-01")) == []


def test_missing_date(readings, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Observation", "date:missing=true")) == []
