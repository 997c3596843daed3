"""Every request that touches patient data leaves an audit record, allowed or denied.

Recording is one INSERT (plus one per patient concerned) in the request, so it costs well under a
millisecond; the FHIR AuditEvent resources people and integrators search
(`AuditEvent?patient=...`) are published from those records by `audit_publish`, in order, before
any AuditEvent is read and on a schedule in production. The records follow IHE Basic Audit Log
Patterns (https://profiles.ihe.net/ITI/BALP/): who (user, client, proxy), what (targets or query),
when, outcome, purpose. Tokens are never recorded: the query string is kept without secrets.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.http import HttpRequest

from access.models import Account, AuditRecord
from fhirstore.compartment import patients_of_targets
from fhirstore.context import AccessScope

_ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}
_SECRET_PARAMS = ("access_token", "code", "code_verifier", "client_secret", "refresh_token")
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


def _clean_query(request: HttpRequest) -> str:
    pairs = [f"{key}={value}" for key, value in request.GET.items() if key not in _SECRET_PARAMS]
    return "&".join(pairs)[:2000]


def _who(request: HttpRequest, scope: AccessScope) -> dict[str, str]:
    token: Any = getattr(request, "access_token", None)
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


def _patients(request: HttpRequest, scope: AccessScope, target: Target) -> list[str]:
    found: set[str] = set()
    if target.compartment_patient:
        found.add(target.compartment_patient)
    if target.resource_type == "Patient" and target.logical_id:
        found.add(target.logical_id)
    elif target.known_patients is not None:
        found |= target.known_patients
    elif target.resource_type and target.logical_id:
        found |= patients_of_targets([(target.resource_type, target.logical_id)])
    found |= _query_patients(request)
    if scope.patient_ids is not None:
        found = (found & scope.patient_ids) or set(scope.patient_ids)
    return sorted(found)[:50]


def audit_request(*, request: HttpRequest, scope: AccessScope, status: int, target: Target) -> None:
    """Record one request: a single INSERT of one row per patient concerned (or one row)."""
    fields = {
        "request_id": uuid.uuid4(),
        "recorded": datetime.now(UTC),
        "action": _ACTIONS.get(request.method or "GET", "E"),
        "interaction": target.interaction,
        "outcome": _outcome(status),
        "status": status,
        "method": (request.method or "")[:8],
        "path": request.path[:500],
        "query": _clean_query(request),
        "purpose": request.headers.get("X-Purpose-Of-Use", "")[:40],
        "address": (request.META.get("REMOTE_ADDR") or "")[:64],
        "entity": f"{target.resource_type}/{target.logical_id}"[:200] if target.logical_id else "",
        **_who(request, scope),
    }
    patients = _patients(request, scope, target) or [""]
    rows = [AuditRecord(patient_id=p, **fields) for p in patients]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        AuditRecord.objects.bulk_create(rows)
    else:
        _insert_async_commit(rows)


def _insert_async_commit(rows: list[AuditRecord]) -> None:
    """One round trip: the INSERT and `SET LOCAL synchronous_commit TO OFF` in a single simple
    query, which PostgreSQL runs as one implicit transaction.

    The request's own writes were committed synchronously before this; the audit rows need not wait
    for their WAL flush (milliseconds under load). They can be lost only if PostgreSQL itself
    crashes within wal_writer_delay (200 ms) of the commit, and are never half-written.
    """
    fields = [f for f in AuditRecord._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values = [
        f.get_db_prep_save(getattr(row, f.attname), connection) for row in rows for f in fields
    ]
    table = connection.ops.quote_name(AuditRecord._meta.db_table)
    sql = f"SET LOCAL synchronous_commit TO OFF; INSERT INTO {table} ({columns}) VALUES "
    with connection.cursor() as cursor:
        cursor.execute(sql + ", ".join([row_sql] * len(rows)), values)


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
