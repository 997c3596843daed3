"""Quantity search: `[prefix]number|system|code`. With a UCUM unit the search value is converted to
canonical units and compared with the rows' canonical value, so `5000|UCUM|mg` finds `5 g`; units
that do not convert (mg/dL against mmol/L needs the analyte's molar mass) compare as written.
`number||code` matches the code or the human unit. https://hl7.org/fhir/R4/search.html#quantity
"""

from decimal import Decimal

from django.db.models import Q

from fhirstore.search.filters.number import number_q
from fhirstore.search.request import QuantityValue, Value
from fhirstore.search.ucum import UCUM, canonical


def filter_quantity(*, value: Value, modifier: str | None) -> Q:
    """Rows of SearchQuantity matching one OR'd value."""
    assert isinstance(value, QuantityValue)
    if value.system == UCUM and value.code and canonical(1.0, value.code) is not None:
        return _canonical_q(value, value.code)
    q = number_q(value.number, "value", convert=float)
    if value.system:
        q &= Q(system=value.system)
    return q & Q(code=value.code) if value.code else q


def _canonical_q(value: QuantityValue, code: str) -> Q:
    def convert(number: Decimal) -> float:
        converted = canonical(float(number), code)
        assert converted is not None
        return converted[0]

    canonical_code = canonical(1.0, code)[1]  # type: ignore[index]
    return Q(canonical_code=canonical_code) & number_q(
        value.number, "canonical_value", convert=convert
    )
