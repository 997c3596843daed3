"""Number parameters: https://hl7.org/fhir/R4/search.html#number

Index side: each integer or decimal (Decimal from lossless parsing, int or float) becomes a row
holding it as a float; a Range contributes its low and its high value as two rows.
"""

from decimal import Decimal
from typing import Any

from fhirstore.search.fhirpath import Item

COLUMNS = ("value",)


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(value,) rows for the extracted numbers."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        for number in numbers(value):
            out.append((number,))
    return out


def numbers(value: Any) -> list[float]:
    """The float(s) a number, Quantity-like or Range value stands for."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float | Decimal):
        return [float(value)]
    if isinstance(value, dict):
        if "value" in value:
            return numbers(value["value"])
        return [n for key in ("low", "high") for n in numbers(value.get(key))]
    return []
