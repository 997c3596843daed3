"""Publishing audit records as FHIR AuditEvent resources (IHE BALP style), in record order.

Runs before any AuditEvent is read over FHIR (so a person always sees their log up to now) and
on a schedule in production (Celery beat). The watermark row is locked while publishing, so two
processes never publish the same record twice.
https://profiles.ihe.net/ITI/BALP/ and https://hl7.org/fhir/R4/auditevent.html
"""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from access import audit_buffer
from access.models import AuditRecord, AuditWatermark
from fhirstore.bundles.bulk import create_many, prepare_new
from fhirstore.writes import new_id

_BATCH = 500
_INTERACTIONS = "http://hl7.org/fhir/restful-interaction"
_SOURCE = {
    "observer": {"display": "Companion backend"},
    "type": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
            "code": "4",
            "display": "Application Server",
        }
    ],
}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _agent(record: AuditRecord) -> list[dict[str, Any]]:
    who: dict[str, Any] = {"display": record.actor_name or record.actor or "unknown"}
    if "/" in record.actor and not record.actor.startswith(("user:", "client:")):
        who["reference"] = record.actor
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if record.address:
        agent["network"] = {"address": record.address, "type": "2"}
    agents = [agent]
    if record.client_id:
        agents.append(
            {
                "who": {
                    "display": record.client_name or record.client_id,
                    "identifier": {"value": record.client_id},
                },
                "requestor": False,
            }
        )
    if record.on_behalf_of:
        agents[0]["role"] = [{"text": f"acting for {record.on_behalf_of}"}]
    return agents


def _entities(record: AuditRecord, patients: list[str]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{p}"},
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
        for p in patients
    ]
    if record.entity:
        entities.append({"what": {"reference": record.entity}})
    if record.query:
        entities.append({"description": f"{record.method} {record.path}?{record.query}"[:1000]})
    return entities


def audit_event(record: AuditRecord, patients: list[str]) -> dict[str, Any]:
    """The FHIR AuditEvent for one request (`record` is any of its rows)."""
    doc: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": _INTERACTIONS, "code": record.interaction}],
        "action": record.action,
        "recorded": _instant(record.recorded),
        "outcome": record.outcome,
        "agent": _agent(record),
        "source": _SOURCE,
    }
    if record.purpose:
        doc["purposeOfEvent"] = [{"text": record.purpose}]
    entities = _entities(record, patients)
    if entities:
        doc["entity"] = entities
    return doc


def audit_publish(*, limit: int = 5000) -> int:
    """Publish unpublished records as AuditEvents; return how many were published."""
    audit_buffer.flush()
    published = 0
    while published < limit:
        count, rows = _publish_batch()
        published += count
        if rows < _BATCH:
            break
    return published


def _publish_batch() -> tuple[int, int]:
    """Publish up to one batch of rows: (events written, rows consumed)."""
    with transaction.atomic():
        mark, _ = AuditWatermark.objects.select_for_update().get_or_create(pk=1)
        records = list(
            AuditRecord.objects.filter(id__gt=mark.last_published).order_by("id")[:_BATCH]
        )
        if not records:
            return 0, 0
        moment = datetime.now(UTC)
        items = [
            prepare_new(
                doc=audit_event(first, patients), logical_id=new_id(), moment=moment, method="POST"
            )
            for first, patients in _by_request(records)
        ]
        create_many(items, moment=moment)
        mark.last_published = records[-1].id
        mark.save(update_fields=["last_published"])
    return len(items), len(records)


def _by_request(records: list[AuditRecord]) -> list[tuple[AuditRecord, list[str]]]:
    """Rows grouped per request, in order (a request's rows are inserted together, so they are
    adjacent; one cut by the batch edge would be published as two events, each complete)."""
    grouped: dict[Any, tuple[AuditRecord, list[str]]] = {}
    for record in records:
        _first, patients = grouped.setdefault(record.request_id, (record, []))
        if record.patient_id:
            patients.append(record.patient_id)
    return list(grouped.values())
