"""String search: starts-with ignoring case and accents, `:exact`, `:contains`, name parts."""

import pytest

from tests.fhirstore.search.querying import ids, patient, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    patient("a", family="Müller", given="Zoë")
    patient("b", family="Mullins", given="Ann")
    patient("c", family="O'Brien", given="Seán Óg")


def test_default_is_case_and_accent_insensitive_starts_with(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "family=mul&_sort=_id")) == ["a", "b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "name=ZOE")) == ["a"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "family=ller")) == []


def test_exact_compares_the_original_text(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "family:exact=Müller")) == ["a"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "family:exact=muller")) == []


def test_contains(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "name:contains=LLIN")) == ["b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "given:contains=an og")) == ["c"]


def test_or_and_and(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ids(search("Patient", "name=ann,zoe&_sort=_id")) == ["a", "b"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "name=mul&name=ann")) == ["b"]


def test_address_parts(django_assert_num_queries):
    patient("x", address=[{"line": ["1 High St"], "city": "Leeds", "postalCode": "LS1 4AP"}])
    with django_assert_num_queries(1):
        assert ids(search("Patient", "address-city=leeds")) == ["x"]
    with django_assert_num_queries(1):
        assert ids(search("Patient", "address=1 high")) == ["x"]
