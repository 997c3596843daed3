"""What a FHIR request is about, for its audit record: the interaction and its target.

Derived from the route that matched (https://hl7.org/fhir/R4/http.html interaction names).
"""

from django.http import HttpRequest

from access.audit import Target

_BY_ROUTE = {
    "fhir-instance": {
        "GET": "read",
        "HEAD": "read",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete",
    },
    "fhir-vread": {"GET": "vread", "HEAD": "vread"},
    "fhir-type": {
        "POST": "create",
        "GET": "search-type",
        "HEAD": "search-type",
        "PUT": "update",
        "DELETE": "delete",
    },
    "fhir-root": {"POST": "transaction", "GET": "search-system", "HEAD": "search-system"},
    "fhir-instance-history": {"GET": "history-instance"},
    "fhir-type-history": {"GET": "history-type"},
    "fhir-system-history": {"GET": "history-system"},
    "fhir-search": {"POST": "search-type", "GET": "search-type"},
    "fhir-system-search": {"POST": "search-system", "GET": "search-system"},
    "fhir-compartment-search": {"GET": "search-type", "HEAD": "search-type"},
}


def target_of(request: HttpRequest) -> Target:
    match = request.resolver_match
    name = match.url_name if match else ""
    kwargs = match.kwargs if match else {}
    interaction = _BY_ROUTE.get(name or "", {}).get(request.method or "GET", "operation")
    resource_type = kwargs.get("resource_type") or kwargs.get("target_type") or ""
    if name and name.startswith("fhir-patient-everything"):
        resource_type = "Patient"
    compartment = kwargs.get("logical_id", "") if name == "fhir-compartment-search" else ""
    logical_id = "" if compartment else kwargs.get("logical_id", "")
    if name and "everything" in name:
        compartment = kwargs.get("logical_id", "")
    return Target(interaction, resource_type, logical_id, compartment)


def reads_audit_events(request: HttpRequest, target: Target) -> bool:
    """True when the request asks for AuditEvents, which must first be published.

    `$everything` without `_type=AuditEvent` returns the AuditEvents published so far (the
    scheduler publishes every AUDIT_PUBLISH_SECONDS): publishing a backlog of thousands of
    records inside that request made a patient's record wait seconds for them."""
    if request.method not in ("GET", "HEAD", "POST") or target.interaction in ("create",):
        return False
    types = ",".join(request.GET.getlist("_type"))
    return target.resource_type == "AuditEvent" or "AuditEvent" in types


def with_location(target: Target, location: str) -> Target:
    """The target named by a write's Location header (a create learns its id only there)."""
    parts = location.split("/_history/")[0].rstrip("/").split("/")
    if target.logical_id or len(parts) < 2:
        return target
    return Target(target.interaction, parts[-2], parts[-1], target.compartment_patient)
