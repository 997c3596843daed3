"""`_summary` and `_elements`: return part of a resource, marked SUBSETTED.

https://hl7.org/fhir/R4/search.html#summary and #elements. Works on stored text with the lossless
JSON parser (no pydantic): parse, keep the wanted top-level keys, tag, dump.
"""

from typing import Any

from fhirstore import fhirmodels, jsontext
from fhirstore.errors import InvalidRequest

SUMMARY_MODES = ("true", "text", "data", "count", "false")
_SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
_ALWAYS = ("resourceType", "id", "meta")


def check_summary(mode: str | None) -> None:
    if mode is not None and mode not in SUMMARY_MODES:
        raise InvalidRequest(
            f"_summary must be one of {', '.join(SUMMARY_MODES)}", expression=("_summary",)
        )


def _keys_for(
    resource_type: str, summary: str | None, elements: list[str] | None
) -> set[str] | None:
    if elements:
        return {*elements, *_ALWAYS, *fhirmodels.mandatory_elements(resource_type)}
    if summary == "true":
        return set(fhirmodels.summary_elements(resource_type))
    if summary == "text":
        return {*_ALWAYS, "text", *fhirmodels.mandatory_elements(resource_type)}
    return None


def _tagged(meta: Any) -> dict[str, Any]:
    meta = dict(meta or {})
    meta["tag"] = [*meta.get("tag", []), _SUBSETTED]
    return meta


def subset_doc(
    doc: dict[str, Any], *, summary: str | None, elements: list[str] | None
) -> dict[str, Any]:
    """The part of `doc` that `_summary`/`_elements` ask for (all of it when neither applies)."""
    resource_type = str(doc.get("resourceType", ""))
    if summary == "data":
        kept = {k: v for k, v in doc.items() if k != "text"}
    else:
        keys = _keys_for(resource_type, summary, elements)
        if keys is None:
            return doc
        kept = {k: v for k, v in doc.items() if k in keys or (k.startswith("_") and k[1:] in keys)}
    kept["meta"] = _tagged(kept.get("meta"))
    return kept


def subset_text(text: bytes, *, summary: str | None, elements: list[str] | None) -> bytes:
    """Stored text reduced as asked; unchanged bytes when no subsetting applies."""
    if summary in (None, "false") and not elements:
        return text
    return jsontext.dumps(subset_doc(jsontext.loads(text), summary=summary, elements=elements))


def parse_elements(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]
