"""Sorting, keyset paging with signed cursors, and totals."""

import pytest
from django.db import connection

from fhirstore.errors import InvalidRequest
from fhirstore.models import SearchDate
from tests.fhirstore.search.querying import ids, observation, patient, put, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def five():
    patient("p")
    days = ["05", "01", "03", "02", "04"]
    for n, day in enumerate(days):
        observation(subject="Patient/p", when=f"2024-01-{day}", value=n, logical_id=f"o{day}")


def pages(query, *, per_page=2):
    """Every page of a search by following next links; returns ids per page."""
    found, cursor = [], None
    while True:
        result = search("Observation", query + (f"&_cursor={cursor}" if cursor else ""))
        found.append(ids(result))
        cursor = result.next_cursor
        if not cursor:
            return found


def test_sort_by_date_both_ways(five, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Observation", "_sort=date")) == ["o01", "o02", "o03", "o04", "o05"]
    with django_assert_num_queries(1):
        assert ids(search("Observation", "_sort=-date")) == ["o05", "o04", "o03", "o02", "o01"]


def goal(logical_id, *dues):
    targets = [{"dueDate": due} for due in dues]
    doc = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": logical_id},
        "subject": {"reference": "Patient/p"},
    }
    put({**doc, "target": targets} if targets else doc, logical_id=logical_id)


def test_sort_on_a_date_with_several_values_uses_its_earliest_or_latest(
    django_assert_num_queries,
):
    patient("p")
    goal("wide", "2024-01-01", "2024-12-31")
    goal("mid", "2024-06-01")
    goal("none")

    with django_assert_num_queries(1):
        assert ids(search("Goal", "_sort=target-date")) == ["wide", "mid", "none"]
    with django_assert_num_queries(1):
        assert ids(search("Goal", "_sort=-target-date")) == ["wide", "mid", "none"]
    # One sort row per resource and parameter: a join never repeats a resource.
    sort_rows = SearchDate.objects.filter(param="target-date:sort")
    assert sort_rows.count() == 2
    assert sort_rows.get(resource__logical_id="wide").high.month == 12


def test_paging_a_date_sort_with_missing_values_visits_every_row_once():
    patient("p")
    for n, due in enumerate(["2024-03-01", "2024-01-01", "2024-03-01", "2024-02-01"]):
        goal(f"g{n}", due)
    goal("none")

    found, cursor = [], None
    while True:
        query = "_sort=-target-date&_count=2" + (f"&_cursor={cursor}" if cursor else "")
        result = search("Goal", query)
        found += ids(result)
        cursor = result.next_cursor
        if not cursor:
            break
    assert found == ["g2", "g0", "g3", "g1", "none"]  # ties: the newest id first


def test_several_sort_keys(five, django_assert_num_queries):
    observation(subject="Patient/p", when="2024-01-03", value=-1, logical_id="x03")
    with django_assert_num_queries(1):
        result = search("Observation", "date=2024-01-03&_sort=-date,value-quantity")
    assert ids(result) == ["x03", "o03"]


def test_following_next_links_visits_every_row_once(five, django_assert_num_queries):
    assert pages("_sort=-date&_count=2") == [["o05", "o04"], ["o03", "o02"], ["o01"]]
    first = search("Observation", "_sort=-date&_count=2")
    with django_assert_num_queries(1):  # later pages repeat no count
        second = search("Observation", f"_sort=-date&_count=2&_cursor={first.next_cursor}")
    assert second.total is None


def test_paging_is_stable_while_rows_arrive(five):
    first = search("Observation", "_sort=date&_count=2")
    assert ids(first) == ["o01", "o02"]
    # New rows land both before and after the boundary while the client pages.
    observation(subject="Patient/p", when="2023-12-31", logical_id="early")
    observation(subject="Patient/p", when="2024-01-02T12:00:00Z", logical_id="between")
    second = search("Observation", f"_sort=date&_count=2&_cursor={first.next_cursor}")
    assert ids(second) == ["between", "o03"]
    third = search("Observation", f"_sort=date&_count=2&_cursor={second.next_cursor}")
    assert ids(third) == ["o04", "o05"]


def test_previous_goes_back_a_page(five):
    first = search("Observation", "_sort=date&_count=2")
    second = search("Observation", f"_sort=date&_count=2&_cursor={first.next_cursor}")
    back = search("Observation", f"_sort=date&_count=2&_cursor={second.previous_cursor}")
    assert ids(back) == ["o01", "o02"]
    assert back.previous_cursor is None
    assert back.next_cursor is not None


def test_default_order_pages_by_row(five):
    assert sum(pages("_count=2"), []) == ["o05", "o01", "o03", "o02", "o04"]


def test_tampered_cursor_is_a_400(five):
    cursor = search("Observation", "_count=2").next_cursor
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    with pytest.raises(InvalidRequest, match="not valid"):
        search("Observation", f"_count=2&_cursor={tampered}")


def test_cursor_of_another_search_is_a_400(five):
    cursor = search("Observation", "_count=2&_sort=date").next_cursor
    with pytest.raises(InvalidRequest, match="another search"):
        search("Observation", f"_count=2&_sort=-date&_cursor={cursor}")


def test_expired_cursor_is_a_400(five, settings):
    cursor = search("Observation", "_count=2").next_cursor
    settings.FHIR_STORE = {**settings.FHIR_STORE, "CURSOR_MAX_AGE": -1}
    with pytest.raises(InvalidRequest, match="expired"):
        search("Observation", f"_count=2&_cursor={cursor}")


def test_totals(five, django_assert_num_queries):
    with django_assert_num_queries(1):  # more rows than fit, no _total: no count, no total
        assert search("Observation", "_count=2").total is None
    with django_assert_num_queries(2):  # all fit: counted for free, whatever _total says
        assert search("Observation", "_count=10").total == 5
        assert search("Observation", "_count=10&_total=estimate").total == 5
    with django_assert_num_queries(2):  # page + count
        assert search("Observation", "_count=2&_total=accurate").total == 5
    with django_assert_num_queries(1):
        assert search("Observation", "_count=2&_total=none").total is None
    with django_assert_num_queries(1):
        result = search("Observation", "_summary=count")
    assert (result.total, result.matches) == (5, [])


# Compiled SQL, and a chain the ORM builds.
@pytest.mark.parametrize("criteria", ["code=8867-4", "subject:Patient.name=smith"])
def test_estimated_total_is_the_planners_on_postgresql_and_a_count_elsewhere(
    five, criteria, django_assert_num_queries
):
    with django_assert_num_queries(2):  # page + EXPLAIN (or COUNT on SQLite)
        total = search("Observation", f"_count=2&_total=estimate&{criteria}").total
    if connection.vendor == "postgresql":
        assert isinstance(total, int)
        assert total >= 1
    else:
        assert total == 5


def test_later_pages_carry_no_total_unless_asked(five):
    first = search("Observation", "_count=2&_total=accurate&_sort=date")
    second = search(
        "Observation", f"_count=2&_total=accurate&_sort=date&_cursor={first.next_cursor}"
    )
    assert (first.total, second.total) == (5, 5)
    assert search("Observation", f"_count=2&_sort=date&_cursor={first.next_cursor}").total is None
