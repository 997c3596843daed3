"""Date rows: partial dates as ranges, time zones to UTC, Period and Timing as ranges."""

from datetime import UTC, datetime

import pytest

from fhirstore.models import SearchDate
from fhirstore.models.index import MAX_DATE, MIN_DATE
from fhirstore.search.types.date import date_range
from tests.fhirstore.search.indexing import example, rows, store

pytestmark = pytest.mark.django_db


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", utc(2024, 1, 1), utc(2024, 12, 31, 23, 59, 59, 999999)),
        ("2024-02", utc(2024, 2, 1), utc(2024, 2, 29, 23, 59, 59, 999999)),
        ("2024-12", utc(2024, 12, 1), utc(2024, 12, 31, 23, 59, 59, 999999)),
        ("2024-03-05", utc(2024, 3, 5), utc(2024, 3, 5, 23, 59, 59, 999999)),
        ("2024-03-05T10:00:00+01:00", utc(2024, 3, 5, 9), utc(2024, 3, 5, 9, 0, 0, 999999)),
        ("2024-03-05T23:30:00-05:00", utc(2024, 3, 6, 4, 30), utc(2024, 3, 6, 4, 30, 0, 999999)),
        ("2024-03-05T10:00:00Z", utc(2024, 3, 5, 10), utc(2024, 3, 5, 10, 0, 0, 999999)),
        (
            "2024-03-05T10:00:00.123Z",
            utc(2024, 3, 5, 10, 0, 0, 123000),
            utc(2024, 3, 5, 10, 0, 0, 123000),
        ),
        ("2024-03-05T10:00", utc(2024, 3, 5, 10), utc(2024, 3, 5, 10, 0, 59, 999999)),
        ("9999", utc(9999, 1, 1), MAX_DATE),
    ],
)
def test_date_range_at_the_precision_written(text, low, high):
    assert date_range(text) == (low, high)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13", "2024-02-30", "10:00:00"])
def test_unreadable_dates_give_no_range(text):
    assert date_range(text) is None


def test_birthdate_is_the_whole_day():
    patient = store(example("patient-example"))

    assert rows(SearchDate, "birthdate", patient) == [
        (utc(1974, 12, 25), utc(1974, 12, 25, 23, 59, 59, 999999))
    ]


def test_period_with_open_end_runs_to_the_far_future():
    obs = store(example("observation-example-f001-glucose"))

    assert rows(SearchDate, "date", obs) == [(utc(2013, 4, 2, 8, 30, 10), MAX_DATE)]


def test_period_with_only_an_end_starts_at_the_beginning_of_time():
    plan = store(example("careplan-example"))

    assert rows(SearchDate, "date", plan) == [(MIN_DATE, utc(2017, 6, 1, 23, 59, 59, 999999))]


def test_timing_events_give_min_to_max():
    doc = example("careplan-example")
    doc["activity"] = [
        {
            "detail": {
                "status": "scheduled",
                "scheduledTiming": {"event": ["2024-05-02T10:00:00Z", "2024-05-01", "2024-06"]},
            }
        }
    ]

    plan = store(doc)

    assert rows(SearchDate, "activity-date", plan) == [
        (utc(2024, 5, 1), utc(2024, 6, 30, 23, 59, 59, 999999))
    ]


def test_timing_without_events_uses_bounds_period():
    doc = example("careplan-example")
    doc["activity"] = [
        {
            "detail": {
                "status": "scheduled",
                "scheduledTiming": {
                    "repeat": {"boundsPeriod": {"start": "2024-01-01"}, "frequency": 1}
                },
            }
        }
    ]

    plan = store(doc)

    assert rows(SearchDate, "activity-date", plan) == [(utc(2024, 1, 1), MAX_DATE)]


def test_last_updated_from_meta():
    doc = example("patient-example")
    doc["meta"] = {"lastUpdated": "2024-03-05T10:00:00.5+02:00"}

    patient = store(doc)

    assert rows(SearchDate, "_lastUpdated", patient) == [
        (utc(2024, 3, 5, 8, 0, 0, 500000), utc(2024, 3, 5, 8, 0, 0, 500000))
    ]
