"""URI parameters: https://hl7.org/fhir/R4/search.html#uri

Index side: each uri, url or canonical string becomes a row verbatim (URIs are case-sensitive),
cut to MAX_LENGTH characters so the b-tree index accepts it; a longer URI still matches by
prefix (`:below`) on its first MAX_LENGTH characters.
"""

from typing import Any

from fhirstore.search.fhirpath import Item

COLUMNS = ("value",)
MAX_LENGTH = 2000


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(value,) rows for the extracted URI strings."""
    return [(value[:MAX_LENGTH],) for value, _ in items if isinstance(value, str) and value]
