"""Token rows carry their resource's principal date (`latest.py`): the latest instant of it,
MIN_DATE without one, nothing for a type that has none; kept current on update, and filled for
rows written before the column existed by the migration."""

import importlib
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import connection

from fhirstore.models import SearchToken
from fhirstore.models.index import MIN_DATE
from fhirstore.search.latest import principal_date
from tests.fhirstore.search.querying import LOINC, observation, patient, put

pytestmark = pytest.mark.django_db
fill_migration = importlib.import_module("fhirstore.migrations.0004_token_principal_date")


def dates(logical_id: str) -> set:
    rows = SearchToken.objects.filter(resource__logical_id=logical_id)
    return set(rows.values_list("sort_high", flat=True))


def test_each_type_has_the_date_its_records_are_listed_by():
    assert principal_date("Observation") == "date"
    assert principal_date("Condition") == "onset-date"
    assert principal_date("MedicationRequest") == "authoredon"
    assert principal_date("Practitioner") is None


def test_every_token_row_carries_the_latest_instant_of_the_principal_date():
    patient("p")
    observation(subject="Patient/p", when="2024-03-01", logical_id="day")
    period = {"start": "2023-01-01T00:00:00Z", "end": "2023-06-30T12:00:00Z"}
    observation(subject="Patient/p", effectivePeriod=period, when=None, logical_id="period")

    # A date is the whole day, a dateTime its whole second.
    assert dates("day") == {datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)}
    assert dates("period") == {datetime(2023, 6, 30, 12, 0, 0, 999999, tzinfo=UTC)}
    assert SearchToken.objects.filter(resource__logical_id="day").count() > 3


def test_without_the_date_rows_sort_last_and_types_without_one_carry_none():
    undated = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    put({**undated, "code": {"coding": [{"system": LOINC, "code": "1-8"}]}}, logical_id="undated")
    put({"resourceType": "Practitioner", "active": True}, logical_id="dr")

    assert dates("undated") == {MIN_DATE}
    assert dates("dr") == {None}


def test_an_update_moves_the_rows_to_the_new_date():
    patient("p")
    observation(subject="Patient/p", when="2024-03-01T10:00:00Z", logical_id="o")
    observation(subject="Patient/p", when="2025-01-02T10:00:00Z", logical_id="o")

    assert dates("o") == {datetime(2025, 1, 2, 10, 0, 0, 999999, tzinfo=UTC)}


def test_the_migration_fills_rows_written_before_the_column():
    patient("p")
    observation(subject="Patient/p", when="2024-03-01T10:00:00Z", logical_id="o")
    put({"resourceType": "Practitioner", "active": True}, logical_id="dr")
    SearchToken.objects.update(sort_high=None)

    fill_migration.fill(None, SimpleNamespace(connection=connection))

    assert dates("o") == {datetime(2024, 3, 1, 10, 0, 0, 999999, tzinfo=UTC)}
    assert dates("p") == {MIN_DATE}  # Patient's birthdate: none given
    assert dates("dr") == {None}
