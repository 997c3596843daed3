"""Content negotiation and body parsing for the FHIR API (https://hl7.org/fhir/R4/http.html#mime-type).

JSON only: `application/fhir+json` and `application/json` (and `_format=json`); an XML request is
answered 415 and an XML-only Accept 406, each with an OperationOutcome.
"""

from typing import Any

from django.http import HttpRequest

from fhirstore import conf, jsontext
from fhirstore.errors import FhirError

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
_JSON_TYPES = {FHIR_JSON, "application/json", "json", "application/json+fhir", "text/json"}
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    "application/json": "application/json",
    FHIR_JSON: FHIR_JSON,
    "application/json+fhir": FHIR_JSON,
}


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def response_type(request: HttpRequest) -> str:
    """The media type to answer with; 406 when the client accepts only what we cannot give."""
    wanted = request.GET.get("_format")
    if wanted:
        chosen = _FORMAT_ALIASES.get(wanted.strip().lower())
        if chosen is None:
            raise FhirError(
                f"_format {wanted!r} is not supported; this server speaks JSON",
                http_status=406,
                code="not-supported",
            )
        return chosen
    return media_for_accept(request.headers.get("Accept", ""))


def media_for_accept(accept: str) -> str:
    """The media type to answer an `Accept` header with; 406 when none we speak is acceptable."""
    accepted = _media_types(accept)
    if not accepted or any(t in ("*/*", "application/*", FHIR_JSON) for t in accepted):
        return FHIR_JSON
    if "application/json" in accepted or "text/json" in accepted:
        return "application/json"
    if "application/json+fhir" in accepted:
        return FHIR_JSON
    raise FhirError(
        "Only application/fhir+json is supported", http_status=406, code="not-supported"
    )


def pretty(request: HttpRequest) -> bool:
    return request.GET.get("_pretty", "").lower() == "true"


def _check_size(request: HttpRequest) -> None:
    limit = conf.max_body_bytes()
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise FhirError(
            f"The body is larger than the limit of {limit} bytes",
            http_status=413,
            code="too-costly",
        )


def read_body(request: HttpRequest, *, allow_patch: bool = False) -> Any:
    """The parsed JSON body; 415 for other media, 413 when too large, 400 when malformed."""
    media = _media_types(request.headers.get("Content-Type", ""))
    media_type = media[0] if media else ""
    allowed = _JSON_TYPES | ({JSON_PATCH} if allow_patch else set())
    if media_type not in allowed:
        expected = JSON_PATCH if allow_patch else FHIR_JSON
        raise FhirError(
            f"Content-Type {media_type or '(none)'} is not supported; send {expected}",
            http_status=415,
            code="not-supported",
        )
    _check_size(request)
    try:
        body = request.body
    except Exception as error:  # RequestDataTooBig is raised for chunked bodies over the limit
        if type(error).__name__ == "RequestDataTooBig":
            raise FhirError(
                "The body is larger than the configured limit", http_status=413, code="too-costly"
            ) from None
        raise
    if not body.strip():
        raise FhirError("The request body is empty", code="required")
    return jsontext.loads(body)


def read_resource(request: HttpRequest) -> dict[str, Any]:
    doc = read_body(request)
    if not isinstance(doc, dict):
        raise FhirError("The body must be a JSON object holding a FHIR resource", code="structure")
    return doc
