"""Validation with the memory of valid nested elements: what was rejected is still rejected,
with the same message, however often a valid twin of an element was seen before."""

from decimal import Decimal

import pytest

from fhirstore import fhirmodels
from fhirstore.errors import InvalidResource

CODING = {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}


def observation(**elements: object) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [CODING]},
        **elements,
    }


def rejection(doc: dict) -> str:
    with pytest.raises(InvalidResource) as caught:
        fhirmodels.validate_resource(doc)
    return caught.value.diagnostics


def test_an_invalid_element_is_rejected_every_time_with_the_same_message():
    doc = observation(valueQuantity={"value": Decimal("72"), "unit": "/min", "bogus": 1})

    first, second = rejection(doc), rejection(doc)

    assert first == second
    assert "bogus" in first


def test_a_known_valid_element_does_not_excuse_an_invalid_twin():
    fhirmodels.validate_resource(observation(effectivePeriod={"start": "2020-01-01"}))

    message = rejection(observation(effectivePeriod={"start": "2020-13-45"}))

    assert "effectivePeriod" in message


def test_valid_nested_elements_are_remembered_and_invalid_ones_are_not():
    fhirmodels.validate_resource(observation())
    rejection(observation(code={"coding": [{**CODING, "bogus": 1}]}))

    remembered = {text for _, text in fhirmodels._valid_elements.valid}

    assert b'"code":"8867-4","display":"Heart rate"}' in b" ".join(remembered)
    assert not any(b"bogus" in text for text in remembered)


def test_a_decimal_and_a_string_with_the_same_digits_are_told_apart():
    fhirmodels.validate_resource(observation(valueQuantity={"value": Decimal("1.5")}))

    message = rejection(observation(valueQuantity={"value": "1.5"}))

    assert "valueQuantity.value" in message


def test_a_missing_required_element_of_a_nested_model_is_still_reported():
    fhirmodels.validate_resource(observation(referenceRange=[{"text": "normal"}]))

    message = rejection(observation(component=[{"valueString": "x"}]))

    assert "component" in message


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(fhirmodels._ValidElements, "LIMIT", 3)

    for code in range(10):
        fhirmodels.validate_resource(observation(code={"coding": [{**CODING, "code": str(code)}]}))

    assert len(fhirmodels._valid_elements.valid) <= 3
