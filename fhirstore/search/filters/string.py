"""String search: case- and accent-insensitive starts-with by default, `:contains`, and `:exact`
(compared with the original text). Values are normalised exactly as the index normalises them.
https://hl7.org/fhir/R4/search.html#string
"""

from django.db.models import Q

from fhirstore.search.request import TextValue, Value
from fhirstore.search.types import string

MAX_LENGTH = string.MAX_LENGTH


def normalise(text: str) -> str:
    """The index's normal form (`types/string.py`), cut to the column's length."""
    return string.normalise(text)[:MAX_LENGTH]


def filter_string(*, value: Value, modifier: str | None) -> Q:
    """Rows of SearchString matching one OR'd value."""
    assert isinstance(value, TextValue)
    if modifier == "exact":
        return Q(exact=value.text)
    if modifier == "contains":
        return Q(value__contains=normalise(value.text))
    return Q(value__startswith=normalise(value.text))
