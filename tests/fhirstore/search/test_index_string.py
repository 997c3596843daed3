"""String rows: HumanName and Address parts, normalised for case/accent-insensitive search."""

import pytest

from fhirstore.models import SearchString
from fhirstore.search.types.string import normalise
from tests.fhirstore.search.indexing import example, rows, store

pytestmark = pytest.mark.django_db


def test_normalise_strips_accents_casefolds_and_collapses_spaces():
    assert normalise("  Zoë   MÜLLER\tStraße ") == "zoe muller strasse"


def test_human_name_parts_are_rows_and_use_is_not():
    patient = store(example("patient-example"))

    values = [value for value, _ in rows(SearchString, "name", patient)]

    assert values == ["chalmers", "james", "james", "jim", "peter", "peter", "windsor"]
    assert rows(SearchString, "family", patient) == [
        ("chalmers", "Chalmers"),
        ("windsor", "Windsor"),
    ]


def test_address_parts_and_single_part_params():
    patient = store(example("patient-example"))

    assert ("pleasantville", "PleasantVille") in rows(SearchString, "address", patient)
    assert ("534 erewhon st", "534 Erewhon St") in rows(SearchString, "address", patient)
    assert rows(SearchString, "address-city", patient) == [("pleasantville", "PleasantVille")]
    assert rows(SearchString, "address-postalcode", patient) == [("3999", "3999")]


def test_accented_name_keeps_exact_form():
    doc = example("patient-example")
    doc["name"] = [{"family": "Núñez", "given": ["José"]}]

    patient = store(doc)

    assert rows(SearchString, "family", patient) == [("nunez", "Núñez")]


def test_long_strings_are_cut_to_the_column_length():
    doc = example("patient-example")
    doc["name"] = [{"family": "x" * 300}]

    patient = store(doc)

    assert rows(SearchString, "family", patient) == [("x" * 255, "x" * 255)]
