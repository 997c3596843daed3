"""Observation/$lastn: the latest `max` Observations per code, in one windowed query."""

import pytest

from fhirstore.context import AccessScope
from fhirstore.errors import InvalidRequest
from fhirstore.operations.lastn import lastn
from tests.fhirstore.search.querying import ids, observation, patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def readings():
    patient("ann")
    patient("bob")
    for day in ("01", "02", "03"):
        observation(
            subject="Patient/ann", code="8867-4", when=f"2024-01-{day}", logical_id=f"hr{day}"
        )
        observation(
            subject="Patient/ann", code="8480-6", when=f"2024-02-{day}", logical_id=f"bp{day}"
        )
    observation(
        subject="Patient/ann",
        code="8480-6",
        when="2024-03-01",
        category="laboratory",
        logical_id="lab",
    )
    observation(subject="Patient/bob", code="8867-4", when="2025-01-01", logical_id="bob")


def test_latest_per_code(readings, django_assert_num_queries):
    params = [("patient", "ann"), ("category", "vital-signs"), ("max", "2")]
    with django_assert_num_queries(2):
        result = lastn(params=params, scope=AccessScope())
    assert ids(result) == ["bp03", "bp02", "hr03", "hr02"]


def test_default_max_is_one(readings):
    result = lastn(params=[("patient", "ann")], scope=AccessScope())
    assert ids(result) == ["lab", "hr03"]


def test_needs_a_patient_and_a_sane_max(readings):
    with pytest.raises(InvalidRequest):
        lastn(params=[("category", "vital-signs")], scope=AccessScope())
    with pytest.raises(InvalidRequest):
        lastn(params=[("patient", "ann"), ("max", "0")], scope=AccessScope())


def test_scope_applies(readings):
    result = lastn(params=[("patient", "bob")], scope=AccessScope(patient_ids=frozenset({"ann"})))
    assert ids(result) == []
