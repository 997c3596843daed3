"""Date search: the search value and the indexed value are both ranges, compared as the table in
https://hl7.org/fhir/R4/search.html#prefix says (eq: the search range contains the value's range;
gt: the value's range reaches above it; ge: gt or eq; sa: starts after; eb: ends before ...).
`ap` widens the search range by 10% of its distance from now (the spec's suggestion), at
least a day.
"""

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from fhirstore.search.request import DateValue, Value


def filter_date(*, value: Value, modifier: str | None, low: str = "low", high: str = "high") -> Q:
    """Rows whose inclusive range [`low`, `high`] matches one OR'd value."""
    assert isinstance(value, DateValue)
    lo, hi = value.low, value.high
    contained = Q(**{f"{low}__gte": lo, f"{high}__lte": hi})
    conditions = {
        "eq": lambda: contained,
        "ne": lambda: Q(**{f"{low}__lt": lo}) | Q(**{f"{high}__gt": hi}),
        "gt": lambda: Q(**{f"{high}__gt": hi}),
        "lt": lambda: Q(**{f"{low}__lt": lo}),
        "ge": lambda: Q(**{f"{high}__gt": hi}) | contained,
        "le": lambda: Q(**{f"{low}__lt": lo}) | contained,
        "sa": lambda: Q(**{f"{low}__gt": hi}),
        "eb": lambda: Q(**{f"{high}__lt": lo}),
        "ap": lambda: _approximately(lo, hi, low, high),
    }
    return conditions[value.prefix]()


def _approximately(lo: datetime, hi: datetime, low: str, high: str) -> Q:
    margin = max(abs(timezone.now() - lo) / 10, timedelta(days=1))
    return Q(**{f"{low}__lte": hi + margin, f"{high}__gte": lo - margin})
