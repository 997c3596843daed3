"""Token parameters: https://hl7.org/fhir/R4/search.html#token

Index side: a row (system, code, text) per Coding (CodeableConcept codings each, text = the
normalised display), per Identifier or ContactPoint (system, value), per code/id/uri/string
(code only) and per boolean ("true"/"false"). A CodeableConcept whose `text` differs from its
displays adds a row with code "" for `:text`. Identifier types add `:of-type` rows
(`of_type_rows`: the type's system/code, and `text` = the identifier value verbatim).
"""

from typing import Any

from fhirstore.search.fhirpath import Item
from fhirstore.search.types.string import normalise

COLUMNS = ("system", "code", "text")
MAX_LENGTH = 255
Row = tuple[str, str, str]


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(system, code, text) rows for the extracted values."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        out.extend(_rows(value))
    return out


def of_type_rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """Rows for `identifier:of-type=system|code|value`: (type system, type code, value)."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        if not isinstance(value, dict) or not isinstance(value.get("value"), str):
            continue
        for coding in _codings(value.get("type")):
            out.append(_row(coding.get("system"), coding.get("code"), value["value"]))
    return out


def _rows(value: Any) -> list[Row]:
    if isinstance(value, bool):
        return [("", "true" if value else "false", "")]
    if isinstance(value, str):
        return [_row("", value, "")]
    if not isinstance(value, dict) or "reference" in value:
        return []
    if "coding" in value or ("text" in value and "value" not in value):
        return _concept_rows(value)
    if "value" in value:  # Identifier, ContactPoint
        type_text = value.get("type", {}).get("text") if isinstance(value.get("type"), dict) else ""
        return [_row(value.get("system"), _text(value.get("value")), normalise(type_text or ""))]
    if "code" in value or "system" in value:  # Coding
        return [
            _row(value.get("system"), value.get("code"), normalise(_text(value.get("display"))))
        ]
    return []


def _concept_rows(concept: dict) -> list[Row]:
    codings = _codings(concept)
    out = [
        _row(c.get("system"), c.get("code"), normalise(_text(c.get("display")))) for c in codings
    ]
    text = normalise(_text(concept.get("text")))
    if text and all(row[2] != text for row in out):
        out.append(("", "", text[:MAX_LENGTH]))
    return out


def _codings(concept: Any) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, dict)]


def _row(system: Any, code: Any, text: str) -> Row:
    return (_text(system)[:MAX_LENGTH], _text(code)[:MAX_LENGTH], text[:MAX_LENGTH])


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
