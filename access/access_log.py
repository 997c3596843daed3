"""A person's "who looked at my record" log, in plain words.

Read from the audit records (one indexed query by patient), newest first, and phrased for the
person: "Dr A. Khan viewed your test results and readings on 3 May 2026 via Riverside GP system".
The same facts are in the FHIR AuditEvents (`AuditEvent?patient=...`) for apps that want them raw.
"""

from dataclasses import dataclass
from datetime import datetime

from access import audit_buffer
from access.models import AuditRecord

_AREAS = {
    "Observation": "test results and readings",
    "DiagnosticReport": "test reports",
    "Condition": "conditions",
    "MedicationRequest": "medicines",
    "MedicationStatement": "medicines",
    "AllergyIntolerance": "allergies",
    "Immunization": "vaccinations",
    "Encounter": "appointments and visits",
    "Appointment": "appointments",
    "DocumentReference": "documents",
    "Procedure": "procedures",
    "CarePlan": "care plans",
    "Goal": "goals",
    "CareTeam": "care team",
    "Communication": "messages",
    "Consent": "sharing choices",
    "AuditEvent": "record access log",
    "Patient": "personal details",
}
_VERBS = {"R": "viewed", "C": "added to", "U": "updated", "D": "deleted from", "E": "used"}
_TRIED = {"R": "view", "C": "add to", "U": "update", "D": "delete from", "E": "use"}


@dataclass(frozen=True)
class AccessLogEntry:
    """One line of the log: the facts and the sentence a person reads."""

    when: datetime
    who: str
    via: str
    action: str
    area: str
    allowed: bool
    acting_for_you: str
    sentence: str


def _area(record: AuditRecord) -> str:
    resource_type = record.entity.split("/")[0] if record.entity else ""
    if not resource_type:
        parts = [p for p in record.path.split("/") if p and not p.startswith("$")]
        resource_type = next((p for p in reversed(parts) if p[:1].isupper()), "")
    return _AREAS.get(resource_type, "record")


def _who(record: AuditRecord) -> str:
    if record.actor_name:
        return record.actor_name
    return record.client_name or "A connected system"


def _sentence(record: AuditRecord, who: str, area: str) -> str:
    verb = _VERBS.get(record.action, "used")
    when = f"{record.recorded:%-d %B %Y at %H:%M}"
    via = f" via {record.client_name}" if record.client_name and record.client_name != who else ""
    proxy = " on your behalf" if record.on_behalf_of else ""
    if record.outcome != "0":
        return (
            f"{who} tried to {_TRIED.get(record.action, 'use')} your {area} on {when}{via}: refused"
        )
    return f"{who}{proxy} {verb} your {area} on {when}{via}"


def access_log_for_patient(*, patient_id: str, limit: int = 100) -> list[AccessLogEntry]:
    """The newest `limit` accesses to the patient's record, as entries a person can read."""
    audit_buffer.flush()
    rows = AuditRecord.objects.filter(patient_id=patient_id).order_by("-recorded", "-id")[:limit]
    entries = []
    for record in rows:
        who, area = _who(record), _area(record)
        entries.append(
            AccessLogEntry(
                when=record.recorded,
                who=who,
                via=record.client_name,
                action=_VERBS.get(record.action, "used"),
                area=area,
                allowed=record.outcome == "0",
                acting_for_you=record.on_behalf_of,
                sentence=_sentence(record, who, area),
            )
        )
    return entries
