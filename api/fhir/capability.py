"""`GET /fhir/metadata`: the CapabilityStatement, generated from what is routed and registered.

Each interaction below names the route that serves it; a test resolves every one against the URL
configuration, so the statement cannot claim what the server does not do.
https://hl7.org/fhir/R4/capabilitystatement.html
"""

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse

from access.discovery import capability_security
from api.fhir import capability_search
from api.fhir.responses import base_url, fhir_view, respond
from fhirstore import fhirmodels, jsontext
from fhirstore.repository import Repository

# interaction code → (HTTP method, example path relative to /fhir) it is served at.
TYPE_INTERACTIONS: dict[str, tuple[str, str]] = {
    "read": ("GET", "/Patient/example"),
    "vread": ("GET", "/Patient/example/_history/1"),
    "update": ("PUT", "/Patient/example"),
    "patch": ("PATCH", "/Patient/example"),
    "delete": ("DELETE", "/Patient/example"),
    "history-instance": ("GET", "/Patient/example/_history"),
    "history-type": ("GET", "/Patient/_history"),
    "create": ("POST", "/Patient"),
    "search-type": ("GET", "/Patient"),
}
SYSTEM_INTERACTIONS: dict[str, tuple[str, str]] = {
    "transaction": ("POST", "/"),
    "batch": ("POST", "/"),
    "history-system": ("GET", "/_history"),
    "search-system": ("GET", "/"),
}
# Operations registered by the search and bulk layers: name → (definition URL, example path).
OPERATIONS: dict[str, tuple[str, str]] = {}


def _resource_entry(resource_type: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": resource_type,
        "interaction": [
            {"code": code} for code in TYPE_INTERACTIONS if not code.startswith("history-system")
        ],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
    }
    params = capability_search.search_params(resource_type)
    if params:
        entry["searchParam"] = params
    entry["searchInclude"] = capability_search.search_includes(resource_type)
    revincludes = capability_search.search_revincludes(resource_type)
    if revincludes:
        entry["searchRevInclude"] = revincludes
    operations = capability_search.operations_of(resource_type, OPERATIONS)
    if operations:
        entry["operation"] = operations
    return entry


def _security() -> dict[str, Any]:
    """SMART on FHIR endpoints (oauth-uris extension, SMART service code), owned by access/."""
    return capability_security()


@functools.cache
def capability_statement() -> dict[str, Any]:
    """The statement for this server (computed once per process)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "kind": "instance",
        "software": {"name": "Companion FHIR backend"},
        "implementation": {
            "description": "FHIR R4 server of the companion app backend",
            "url": base_url(),
        },
        "fhirVersion": fhirmodels.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(),
                "resource": [_resource_entry(t) for t in sorted(fhirmodels.RESOURCE_TYPES)],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": [
                    {"name": name, "definition": url}
                    for name, (url, _) in sorted(OPERATIONS.items())
                ],
            }
        ],
    }


@fhir_view(methods=("GET", "HEAD"), public=True)
def metadata(request: HttpRequest, repo: Repository) -> HttpResponse:
    return respond(request, _statement_bytes())


@functools.cache
def _statement_bytes() -> bytes:
    """The statement serialised once per process (it is large: every type's search parameters)."""
    return jsontext.dumps(capability_statement())
