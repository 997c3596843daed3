"""String parameters: https://hl7.org/fhir/R4/search.html#string

Index side: each string, and each part of a HumanName or Address (family, given, prefix,
suffix, text; line, city, district, state, postalCode, country, text), becomes a row with
`value` normalised by `normalise` (accents stripped, casefolded, whitespace collapsed) and
`exact` as written. The query side must normalise search values with the same function.
"""

import unicodedata
from functools import lru_cache
from typing import Any

from fhirstore.search.fhirpath import Item

COLUMNS = ("value", "exact")
MAX_LENGTH = 255
# Elements of complex string-searchable types that are codes or structure, not searchable text.
_NOT_TEXT = frozenset(("use", "type", "id", "period", "extension", "rank", "system"))


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Case- and accent-insensitive form: accents dropped, casefolded, spaces collapsed."""
    if text.isascii():  # the common case needs no Unicode decomposition
        return " ".join(text.casefold().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(value, exact) rows for each string found in the extracted values."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        for text in _texts(value):
            out.append((normalise(text)[:MAX_LENGTH], text[:MAX_LENGTH]))
    return out


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    for key, child in value.items():
        if key in _NOT_TEXT or key.startswith("_"):
            continue
        if isinstance(child, str) and child.strip():
            found.append(child)
        elif isinstance(child, list):
            found.extend(c for c in child if isinstance(c, str) and c.strip())
    return found
