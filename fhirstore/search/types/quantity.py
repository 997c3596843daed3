"""Quantity parameters: https://hl7.org/fhir/R4/search.html#quantity

Index side: a row (value, system, code, canonical_value, canonical_code) per Quantity (and Age,
Duration, Count, Distance, SimpleQuantity), per Money (system urn:iso:std:iso:4217, code the
currency) and per bare number (no unit). `code` is the unit code, or the human `unit` when
there is no code, so `value||mg` finds either. UCUM units also get their canonical form
(`fhirstore.search.ucum`); otherwise canonical_value is NULL and canonical_code "". A Range
gives two rows, its low and its high; SampledData and Ratio are not indexed.
"""

from decimal import Decimal
from typing import Any

from fhirstore.search.fhirpath import Item
from fhirstore.search.ucum import UCUM, canonical

COLUMNS = ("value", "system", "code", "canonical_value", "canonical_code")
CURRENCY = "urn:iso:std:iso:4217"


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """Quantity rows for the extracted values."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        if isinstance(value, dict) and ("low" in value or "high" in value):
            out.extend(r for r in (_row(value.get("low")), _row(value.get("high"))) if r)
        else:
            row = _row(value)
            if row:
                out.append(row)
    return out


def _row(value: Any) -> tuple[Any, ...] | None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value), "", "", None, ""
    if not isinstance(value, dict):
        return None
    number = value.get("value")
    if not isinstance(number, int | float | Decimal) or isinstance(number, bool):
        return None
    if "currency" in value:
        return float(number), CURRENCY, str(value["currency"]), None, ""
    system = str(value.get("system") or "")[:255]
    code = str(value.get("code") or value.get("unit") or "")[:255]
    converted = canonical(float(number), code) if system == UCUM and code else None
    if converted is None:
        return float(number), system, code, None, ""
    return float(number), system, code, converted[0], converted[1]
