"""The `transaction-response` / `batch-response` Bundle, assembled from stored bytes.

One `response` per request entry, in the order of the request (https://hl7.org/fhir/R4/http.html#transaction-response):
status, location (`Type/id/_history/n`), etag and lastModified; the resource itself when the
client asked for `Prefer: return=representation` (or for a GET); an OperationOutcome for a failed
batch entry. Stored JSON is spliced in as bytes, never re-serialised.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from django.conf import settings

from fhirstore import jsontext
from fhirstore.errors import FhirError
from fhirstore.outcome import error_doc
from fhirstore.stored import Stored, format_instant


@dataclass(frozen=True)
class EntryResult:
    """What happened to one entry: its HTTP status and what to report back."""

    status: int
    stored: Stored | None = None
    body: bytes | None = None
    outcome: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.status >= 400


def status_text(status: int) -> str:
    """`201 Created`: the status line FHIR wants in `response.status`."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def failure(error: FhirError) -> EntryResult:
    return EntryResult(error.http_status, outcome=error_doc(error))


def _base() -> str:
    return str(settings.FHIR_STORE["PUBLIC_BASE_URL"]).rstrip("/")


def _response_part(result: EntryResult) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status_text(result.status)}
    stored = result.stored
    if stored is not None:
        if not stored.deleted and stored.text:
            response["location"] = stored.location
        response["etag"] = stored.etag
        response["lastModified"] = format_instant(stored.last_updated)
    if result.outcome is not None:
        response["outcome"] = result.outcome
    return response


def entry_bytes(result: EntryResult, *, with_resource: bool) -> bytes:
    """One response entry; the resource spliced in from stored bytes when wanted."""
    parts: list[bytes] = []
    stored = result.stored
    if stored is not None and not stored.deleted and stored.text:
        parts.append(
            b'"fullUrl":' + jsontext.dumps(f"{_base()}/{stored.resource_type}/{stored.id}")
        )
    body = (
        result.body
        if result.body is not None
        else (stored.text if with_resource and stored else None)
    )
    if body:
        parts.append(b'"resource":' + body)
    parts.append(b'"response":' + jsontext.dumps(_response_part(result)))
    return b"{" + b",".join(parts) + b"}"


def bundle_bytes(kind: str, results: list[EntryResult], *, representation: bool) -> bytes:
    """The response Bundle of `kind` (`transaction-response` or `batch-response`)."""
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
        "type": kind,
    }
    entries = b",".join(entry_bytes(result, with_resource=representation) for result in results)
    return jsontext.dumps(head)[:-1] + b',"entry":[' + entries + b"]}"
