"""Token search: `[system]|[code]` against SearchToken rows, and the `:text`, `:of-type`,
`:above`, `:below` modifiers (`:not` and `:missing` are applied by `criteria.py` to any type).

`:above`/`:below` need a terminology server for real code systems; without one a code subsumes only
itself, plus the one hierarchy a token can spell: MIME types (`text` is above `text/plain`).
https://hl7.org/fhir/R4/search.html#token
"""

from django.db.models import Q

from fhirstore.search.filters.string import normalise
from fhirstore.search.request import OfTypeValue, TextValue, TokenValue, Value


def filter_token(*, value: Value, modifier: str | None) -> Q:
    """Rows of SearchToken matching one OR'd value."""
    if isinstance(value, TextValue):
        return Q(text__startswith=normalise(value.text))
    if isinstance(value, OfTypeValue):
        return Q(system=value.system, code=value.code, text=value.value)
    assert isinstance(value, TokenValue)
    if modifier in ("above", "below") and value.code:
        return _system_q(value) & _hierarchy_q(value.code, below=modifier == "below")
    return _system_q(value) & (Q(code=value.code) if value.code is not None else Q())


def _system_q(value: TokenValue) -> Q:
    return Q() if value.system is None else Q(system=value.system)


def _hierarchy_q(code: str, *, below: bool) -> Q:
    if below:
        return Q(code=code) | Q(code__startswith=code.rstrip("/") + "/")
    major = code.split("/", 1)[0]
    return Q(code=code) | Q(code=major)


def token_codes(values: tuple[Value, ...]) -> list[str]:
    """The codes of plain token values (for `_id`, which is answered from Resource.logical_id)."""
    return [v.code for v in values if isinstance(v, TokenValue) and v.code is not None]
