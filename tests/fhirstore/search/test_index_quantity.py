"""Quantity and number rows, and UCUM canonical units."""

import math

import pytest

from fhirstore.models import SearchNumber, SearchQuantity
from fhirstore.search.ucum import UCUM, canonical
from tests.fhirstore.search.indexing import example, rows, store

pytestmark = pytest.mark.django_db


def close(found, expected):
    assert found is not None
    assert found[1] == expected[1]
    assert math.isclose(found[0], expected[0], rel_tol=1e-9)


@pytest.mark.parametrize(
    ("value", "code", "expected"),
    [
        (70, "kg", (70000.0, "g")),
        (70000, "g", (70000.0, "g")),
        (154, "[lb_av]", (69853.22498, "g")),
        (180, "cm", (1.8, "m")),
        (500, "mL", (0.0005, "m3")),
        (90, "min", (5400.0, "s")),
        (2, "h", (7200.0, "s")),
        (120, "mm[Hg]", (15998686.4898, "g.m-1.s-2")),
        (16, "kPa", (16000000.0, "g.m-1.s-2")),
        (37, "Cel", (310.15, "K")),
        (98.6, "[degF]", (310.15, "K")),
        (100, "mg/dL", (1000.0, "g.m-3")),
        (1, "g/L", (1000.0, "g.m-3")),
        (5.5, "mmol/L", (5.5, "m-3.mol")),
        (72, "/min", (1.2, "s-1")),
        (72, "{beats}/min", (1.2, "s-1")),
        (25, "kg/m2", (25000.0, "g.m-2")),
        (4.5, "10*12/L", (4.5e15, "m-3")),
        (50, "%", (0.5, "1")),
    ],
)
def test_canonical_ucum(value, code, expected):
    close(canonical(value, code), expected)


def test_mg_per_dl_and_mmol_per_l_do_not_share_a_canonical_unit():
    assert canonical(100, "mg/dL")[1] != canonical(5.5, "mmol/L")[1]


@pytest.mark.parametrize("code", ["U/L", "[iU]/L", "{score}x", "foo", "[arb'U]"])
def test_units_it_cannot_convert(code):
    assert canonical(1, code) is None


def test_glucose_quantity_row_with_canonical_value():
    obs = store(example("observation-example-f001-glucose"))

    [(value, system, code, canonical_value, canonical_code)] = rows(
        SearchQuantity, "value-quantity", obs
    )

    assert (value, system, code, canonical_code) == (6.3, UCUM, "mmol/L", "m-3.mol")
    assert math.isclose(canonical_value, 6.3)  # mol per m3 = mmol per L


def test_non_ucum_quantity_has_no_canonical_form_and_unit_stands_in_for_code():
    doc = example("observation-example-f001-glucose")
    doc["valueQuantity"] = {"value": 3, "unit": "tablets"}

    obs = store(doc)

    assert rows(SearchQuantity, "value-quantity", obs) == [(3.0, "", "tablets", None, "")]


def test_decimal_precision_survives_as_float():
    doc = example("observation-example-f001-glucose")
    doc["valueQuantity"]["value"] = __import__("decimal").Decimal("6.30")

    obs = store(doc)

    assert rows(SearchQuantity, "value-quantity", obs)[0][0] == 6.3


def test_range_quantity_gives_low_and_high_rows():
    doc = {
        "resourceType": "Library",
        "id": "lib",
        "status": "active",
        "type": {"text": "x"},
        "useContext": [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "age",
                },
                "valueRange": {
                    "low": {"value": 18, "system": UCUM, "code": "a"},
                    "high": {"value": 65, "system": UCUM, "code": "a"},
                },
            }
        ],
    }

    library = store(doc)

    assert [r[0] for r in rows(SearchQuantity, "context-quantity", library)] == [18.0, 65.0]


def test_number_rows_from_decimals_and_integers():
    risk = store(example("riskassessment-example"))
    sequence = store(example("molecularsequence-example"))

    assert rows(SearchNumber, "probability", risk)[0] == (0.000168,)
    assert len(rows(SearchNumber, "probability", risk)) == 8
    assert rows(SearchNumber, "variant-start", sequence) == [(22125503.0,)]
    assert rows(SearchNumber, "window-end", sequence) == [(22125510.0,)]
