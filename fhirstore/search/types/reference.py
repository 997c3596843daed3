"""Reference parameters: https://hl7.org/fhir/R4/search.html#reference

Index side, one row (target_type, target_id, target_url) per reference:
- relative `Type/id` (or `Type/id/_history/v`), or an absolute URL under our own public base
  URL: target_type and target_id, target_url "";
- another absolute URL (`http://other/fhir/Patient/1`): target_type from the URL ("" if none),
  target_id "", target_url the URL without `/_history/v`; so `subject=Patient/1` never matches
  another server's Patient 1, and `subject=http://other/fhir/Patient/1` does;
- a canonical or uri string: target_url, with any `|version` dropped; `urn:uuid:`/`urn:oid:`
  likewise;
- contained (`#id`) references are not indexed; an inline resource (Bundle `composition`)
  indexes as its type and id.
A reference's `identifier` gives `identifier_rows` for `:identifier`, stored as token rows
(param "<code>:identifier", system, value).
"""

import re
from typing import Any

from django.conf import settings

from fhirstore.search.fhirpath import Item

COLUMNS = ("target_type", "target_id", "target_url")
MAX_URL = 255
_RELATIVE = re.compile(r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")
_ABSOLUTE = re.compile(
    r"(?P<base>.+?)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?"
)
Row = tuple[str, str, str]


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(target_type, target_id, target_url) rows for the extracted references."""
    base = _public_base()
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        row = _row(value, base)
        if row is not None:
            out.append(row)
    return out


def identifier_rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """Token rows (system, value, "") of each reference's `identifier`, for `:identifier`."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        ident = value.get("identifier") if isinstance(value, dict) else None
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            out.append((str(ident.get("system") or "")[:255], ident["value"][:255], ""))
    return out


def parse_reference(text: str, *, base: str) -> Row | None:
    """The row for a reference string, per the rules in the module docstring."""
    if text.startswith("#") or not text:
        return None
    match = _RELATIVE.fullmatch(text)
    if match:
        return match["type"], match["id"], ""
    absolute = _ABSOLUTE.fullmatch(text)
    if absolute and absolute["base"] == base:
        return absolute["type"], absolute["id"], ""
    if absolute and "|" not in text:
        url = f"{absolute['base']}/{absolute['type']}/{absolute['id']}"
        return absolute["type"], "", url[:MAX_URL]
    return "", "", text.split("|", 1)[0][:MAX_URL]


def _row(value: Any, base: str) -> Row | None:
    if isinstance(value, str):
        return parse_reference(value, base=base)
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("resourceType"), str):  # an inline resource (Bundle.entry.resource)
        return value["resourceType"], str(value.get("id", ""))[:64], ""
    text = value.get("reference")
    return parse_reference(text, base=base) if isinstance(text, str) else None


def _public_base() -> str:
    return str(settings.FHIR_STORE.get("PUBLIC_BASE_URL", "")).rstrip("/")
