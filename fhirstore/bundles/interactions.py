"""One Bundle entry as one FHIR interaction through the repository (for batch and transaction).

Each function takes a parsed `Entry` and returns its `EntryResult`, or raises a FhirError that the
caller turns into the entry's outcome (batch) or the whole Bundle's failure (transaction).
https://hl7.org/fhir/R4/http.html
"""

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from fhirstore import history, jsontext
from fhirstore.bundles.envelope import Entry
from fhirstore.bundles.response import EntryResult
from fhirstore.errors import InvalidRequest, NotSupported
from fhirstore.repository import Repository, check_type
from fhirstore.stored import WriteResult

JSON_PATCH = "application/json-patch+json"


def _written(result: WriteResult | None, *, deleted_status: int = 204) -> EntryResult:
    if result is None:
        return EntryResult(deleted_status)
    return EntryResult(
        result.status if not result.stored.deleted else deleted_status, result.stored
    )


def create(repo: Repository, entry: Entry) -> EntryResult:
    """POST (a batch entry): server id, or the existing match for `ifNoneExist`."""
    assert entry.resource is not None
    doc = {key: value for key, value in entry.resource.items() if key != "id"}
    return _written(repo.create(doc=doc, if_none_exist=entry.if_none_exist))


def update(repo: Repository, entry: Entry, *, logical_id: str) -> EntryResult:
    """PUT Type/id (update, or create with the client's id)."""
    assert entry.resource is not None
    doc = {**entry.resource, "id": logical_id}
    result = repo.update(
        resource_type=entry.resource_type, logical_id=logical_id, doc=doc, if_match=entry.if_match
    )
    return _written(result)


def conditional_update(repo: Repository, entry: Entry) -> EntryResult:
    assert entry.resource is not None
    assert entry.query is not None
    result = repo.conditional_update(
        resource_type=entry.resource_type,
        query=entry.query,
        doc=entry.resource,
        if_match=entry.if_match,
    )
    return _written(result)


def delete(repo: Repository, entry: Entry, *, logical_id: str | None) -> EntryResult:
    """DELETE Type/id; None (nothing matched a conditional delete) is a success too."""
    if logical_id is None:
        return EntryResult(204)
    return _written(repo.delete(resource_type=entry.resource_type, logical_id=logical_id))


def conditional_delete(repo: Repository, entry: Entry) -> EntryResult:
    assert entry.query is not None
    return _written(repo.conditional_delete(resource_type=entry.resource_type, query=entry.query))


def patch(repo: Repository, entry: Entry) -> EntryResult:
    """PATCH with a Binary holding a JSON Patch (https://hl7.org/fhir/R4/http.html#patch)."""
    assert entry.logical_id is not None
    operations = patch_operations(entry.resource or {})
    result = repo.patch(
        resource_type=entry.resource_type,
        logical_id=entry.logical_id,
        operations=operations,
        if_match=entry.if_match,
    )
    return _written(result)


def patch_operations(resource: dict[str, Any]) -> Any:
    """The JSON Patch document carried by a Binary's base64 `data`."""
    kind = resource.get("resourceType")
    if kind == "Parameters":
        raise NotSupported(
            "FHIRPath Patch (Parameters) is not supported; send a Binary with a JSON Patch"
        )
    if kind != "Binary" or resource.get("contentType") != JSON_PATCH:
        raise InvalidRequest(
            f"A PATCH entry takes a Binary with contentType {JSON_PATCH}", code="invariant"
        )
    try:
        raw = base64.b64decode(str(resource.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "Binary.data of a PATCH entry is not valid base64", code="value"
        ) from None
    return jsontext.loads(raw)


def get(repo: Repository, entry: Entry) -> EntryResult:
    """GET: read, vread, instance or type history, or search."""
    check_type(entry.resource_type)
    if entry.logical_id is None or entry.logical_id == "_search":
        return _search(repo, entry)
    if entry.logical_id == "_history":
        return _history(repo, entry, logical_id=None)
    if not entry.tail:
        stored = repo.read(resource_type=entry.resource_type, logical_id=entry.logical_id)
        return EntryResult(200, stored, body=stored.text)
    if entry.tail == ("_history",):
        return _history(repo, entry, logical_id=entry.logical_id)
    if len(entry.tail) == 2 and entry.tail[0] == "_history":
        stored = repo.vread(
            resource_type=entry.resource_type, logical_id=entry.logical_id, version=entry.tail[1]
        )
        return EntryResult(200, stored, body=stored.text)
    raise NotSupported(f"GET {entry.url} is not supported inside a Bundle")


def _params(entry: Entry) -> list[tuple[str, str]]:
    return parse_qsl(entry.query or "", keep_blank_values=True)


def _history(repo: Repository, entry: Entry, *, logical_id: str | None) -> EntryResult:
    page = repo.history(
        resource_type=entry.resource_type, logical_id=logical_id, params=_params(entry)
    )
    path = f"/{entry.resource_type}" + (f"/{logical_id}" if logical_id else "") + "/_history"
    return EntryResult(200, body=history.history_bytes(page=page, base=_base(), path=path))


def _search(repo: Repository, entry: Entry) -> EntryResult:
    from fhirstore.search.bundle import searchset_bytes
    from fhirstore.search.engine import execute_search
    from fhirstore.search.parse import parse_search

    request = parse_search(resource_type=entry.resource_type, params=_params(entry))
    result = execute_search(request=request, scope=repo.scope)
    return EntryResult(
        200, body=searchset_bytes(result=result, base_url=_base(), path=entry.resource_type)
    )


def _base() -> str:
    return str(settings.FHIR_STORE["PUBLIC_BASE_URL"]).rstrip("/")
