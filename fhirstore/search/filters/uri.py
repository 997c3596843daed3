"""URI search: exact (case-sensitive) by default; `:below` matches URIs under the given one and
`:above` those the given one is under. https://hl7.org/fhir/R4/search.html#uri
"""

from django.db.models import Q

from fhirstore.search.request import TextValue, Value


def filter_uri(*, value: Value, modifier: str | None) -> Q:
    """Rows of SearchUri matching one OR'd value."""
    assert isinstance(value, TextValue)
    if modifier == "below":
        return Q(value=value.text) | Q(value__startswith=value.text.rstrip("/") + "/")
    if modifier == "above":
        return Q(value__in=uri_ancestors(value.text))
    return Q(value=value.text)


def uri_ancestors(uri: str) -> list[str]:
    """The URI and every path prefix of it: `http://a/b/c` → `http://a/b/c`, `http://a/b`, ..."""
    scheme, sep, rest = uri.partition("://")
    parts = rest.split("/") if sep else uri.split("/")
    head = scheme + sep if sep else ""
    return [head + "/".join(parts[:n]) for n in range(len(parts), 0, -1)]
