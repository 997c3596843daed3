"""Every request that touches patient data leaves an audit record, allowed or denied.

Recording costs a request a few tens of microseconds: on PostgreSQL the rows (one per patient
concerned) are written in batches off the request path (`access.audit_buffer`). The FHIR
AuditEvent resources people and integrators search (`AuditEvent?patient=...`) are published from
those records by `audit_publish`, in order, before any AuditEvent is read and on a schedule in
production. The records follow IHE Basic Audit Log
Patterns (https://profiles.ihe.net/ITI/BALP/): who (user, client, proxy), what (targets or query),
when, outcome, purpose. Tokens are never recorded: the query string is kept without secrets.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest

from access import audit_buffer
from access.models import Account, AuditRecord
from fhirstore.compartment import patients_of_targets
from fhirstore.context import AccessScope

_ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}
# Secrets a client might put in a query string. `code` is not among them: on the FHIR and app APIs
# it is a search parameter (an Observation's code), never an OAuth authorization code.
_SECRET_PARAMS = ("access_token", "code_verifier", "client_secret", "refresh_token")
_PATIENT_PARAMS = ("patient", "subject", "_id")


@dataclass(frozen=True)
class Target:
    """What the request was about: `resource_type`/`logical_id` from the route, or a query."""

    interaction: str
    resource_type: str = ""
    logical_id: str = ""
    compartment_patient: str = ""
    # Patients the store saw while serving the request (a read knows them without a query).
    known_patients: frozenset[str] | None = None


def _outcome(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


@dataclass(frozen=True)
class Call:
    """What an audit record says about the request itself, whatever served it."""

    method: str
    path: str
    query: str  # without secrets
    query_patients: frozenset[str]  # patients the query names
    purpose: str  # X-Purpose-Of-Use
    address: str
    token: Any  # the access token (django-oauth-toolkit), or None

    @classmethod
    def of(cls, request: HttpRequest) -> "Call":
        # From the environ, as `request.headers` and `request.GET` would be built for this alone.
        queried = bool(request.META.get("QUERY_STRING"))
        return cls(
            method=request.method or "",
            path=request.path,
            query=_clean_query(request) if queried else "",
            query_patients=frozenset(_query_patients(request)) if queried else frozenset(),
            purpose=request.META.get("HTTP_X_PURPOSE_OF_USE", ""),
            address=request.META.get("REMOTE_ADDR") or "",
            token=getattr(request, "access_token", None),
        )


def _clean_query(request: HttpRequest) -> str:
    pairs = [f"{key}={value}" for key, value in request.GET.items() if key not in _SECRET_PARAMS]
    return "&".join(pairs)[:2000]


def _who(token: Any, scope: AccessScope) -> dict[str, str]:
    if token is None:
        return {"actor": scope.actor}
    application = token.application
    who = {
        "client_id": application.client_id if application else "",
        "client_name": application.name if application else "",
    }
    user = token.user
    account: Account | None = getattr(user, "account", None) if user else None
    if user is not None:
        who["actor"] = (
            account.fhir_reference if account and account.fhir_reference else f"user:{user.pk}"
        )
        who["actor_name"] = user.get_full_name() or user.get_username()
    else:
        who["actor"] = f"client:{who['client_id']}"
    if account is not None and account.kind == "related-person":
        context = getattr(token, "smart_context", None)
        who["on_behalf_of"] = f"Patient/{context.patient_id}" if context else ""
    return who


def _query_patients(request: HttpRequest) -> set[str]:
    found = set()
    for name in _PATIENT_PARAMS:
        for value in request.GET.getlist(name):
            for item in value.split(","):
                item = item.strip()
                if name != "_id" or request.path.rstrip("/").endswith("/Patient"):
                    found.add(item.removeprefix("Patient/"))
    return {p for p in found if p and "/" not in p}


def _patients(call: Call, scope: AccessScope, target: Target) -> list[str]:
    found: set[str] = set()
    if target.compartment_patient:
        found.add(target.compartment_patient)
    if target.resource_type == "Patient" and target.logical_id:
        found.add(target.logical_id)
    elif target.known_patients is not None:
        found |= target.known_patients
    elif target.resource_type and target.logical_id:
        found |= patients_of_targets([(target.resource_type, target.logical_id)])
    found |= call.query_patients
    if scope.patient_ids is not None:
        found = (found & scope.patient_ids) or set(scope.patient_ids)
    return sorted(found)[:50]


def audit_request(*, request: HttpRequest, scope: AccessScope, status: int, target: Target) -> None:
    """Record one request: one row per patient concerned (or one row)."""
    audit_call(Call.of(request), scope=scope, status=status, target=target)


def audit_call(call: Call, *, scope: AccessScope, status: int, target: Target) -> None:
    """`audit_request` for a request described by `call`.

    On PostgreSQL outside a transaction the rows join the next batch (`access.audit_buffer`);
    inside one (a test, a management command) or on SQLite they are inserted at once. Either
    way they are first fitted to their columns (`audit_buffer.fit`)."""
    who = _who(call.token, scope)
    shared = (
        uuid.uuid4(),
        datetime.now(UTC),
        _ACTIONS.get(call.method or "GET", "E"),
        target.interaction,
        _outcome(status),
        status,
        call.method,
        call.path,
        call.query,
        who.get("actor", ""),
        who.get("actor_name", ""),
        who.get("client_id", ""),
        who.get("client_name", ""),
        who.get("on_behalf_of", ""),
        call.purpose,
        call.address,
        f"{target.resource_type}/{target.logical_id}" if target.logical_id else "",
    )
    rows = [(shared[0], patient, *shared[1:]) for patient in _patients(call, scope, target)]
    rows = [audit_buffer.fit(row) for row in rows or [(shared[0], "", *shared[1:])]]
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: each `connection.x` costs a context-local one
    if db.vendor == "postgresql" and not db.in_atomic_block:
        audit_buffer.record(rows)
    else:
        AuditRecord.objects.bulk_create(
            [AuditRecord(**dict(zip(audit_buffer.columns(), row, strict=True))) for row in rows]
        )


_APP_INTERACTIONS = {"GET": "read", "HEAD": "read", "POST": "create", "DELETE": "delete"}


def audit_app_request(*, request: Any, status: int) -> None:
    """Record one app API request (a DRF request), allowed or denied, in the log of the person's
    own record, or of the one a carer names with `?patient=` when they may act for them."""
    django_request = request._request
    django_request.access_token = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    account = getattr(user, "account", None) if user is not None else None
    patients = set()
    if account is not None and account.kind == "patient" and account.fhir_id:
        patients.add(account.fhir_id)
    named = request.query_params.get("patient")
    if named and account is not None and account.kind != "patient":
        from access.selectors import patients_user_may_act_for

        patients = {named} & set(patients_user_may_act_for(user))
    actor = f"user:{user.pk}" if user is not None and user.pk else "anonymous"
    scope = AccessScope(patient_ids=frozenset(patients), actor=actor)
    interaction = _APP_INTERACTIONS.get(request.method or "GET", "update")
    audit_request(request=django_request, scope=scope, status=status, target=Target(interaction))
