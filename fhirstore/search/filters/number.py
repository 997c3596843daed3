"""Number search: `eq` matches values within the precision of the search value (`100` is
99.5..100.5), other prefixes compare with the value itself, `ap` allows 10%.
https://hl7.org/fhir/R4/search.html#number
"""

from collections.abc import Callable
from decimal import Decimal

from django.db.models import Q

from fhirstore.search.request import NumberValue, Value


def filter_number(*, value: Value, modifier: str | None, field: str = "value") -> Q:
    """Rows whose `field` matches one OR'd value."""
    assert isinstance(value, NumberValue)
    return number_q(value, field, convert=float)


def number_q(value: NumberValue, field: str, *, convert: Callable[[Decimal], float]) -> Q:
    """The condition on `field`; `convert` maps search numbers into the column's units."""
    exact, low, high = (convert(v) for v in (value.value, value.low, value.high))
    in_range = Q(**{f"{field}__gte": low, f"{field}__lt": high})
    if value.prefix == "eq":
        return in_range
    if value.prefix == "ne":
        return ~in_range
    if value.prefix == "ap":
        margin = max(abs(exact) / 10, (high - low) / 2)
        return Q(**{f"{field}__gte": exact - margin, f"{field}__lte": exact + margin})
    lookup = {"gt": "gt", "sa": "gt", "lt": "lt", "eb": "lt", "ge": "gte", "le": "lte"}
    return Q(**{f"{field}__{lookup[value.prefix]}": exact})
