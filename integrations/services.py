"""Writes of Bulk Data export jobs: kick-off, cancellation, expiry, and the completion audit.

The kick-off only validates, records the job and schedules it (after the transaction commits),
so it answers at once whatever the size of the export; the export itself runs in
`integrations.exporting` on a worker. A job runs later under the caller's access as it was at
kick-off (`AccessScope`, stored with the job). https://hl7.org/fhir/uv/bulkdata/export.html
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.models import AuditRecord
from fhirstore import jsontext
from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden
from fhirstore.operations.export.params import ExportRequest
from fhirstore.operations.export.rows import ExportSelection, check_export_types
from fhirstore.repository import Repository
from integrations.files import delete_job_files
from integrations.models import ExportJob, ExportLevel, ExportStatus


@dataclass(frozen=True)
class KickOff:
    """A validated kick-off: the level, the Group (for a group export) and the parameters."""

    level: ExportLevel
    request: ExportRequest
    request_url: str
    group_id: str = ""


def scope_to_json(scope: AccessScope) -> dict[str, Any]:
    return {
        "patient_ids": sorted(scope.patient_ids) if scope.patient_ids is not None else None,
        "readable": sorted(scope.readable),
        "open_types": sorted(scope.open_types),
        "actor": scope.actor,
        "type_filters": {t: list(q) for t, q in scope.type_filters.items()},
    }


def scope_from_json(data: dict[str, Any]) -> AccessScope:
    """The stored scope, read-only: an export never writes."""
    patients = data.get("patient_ids")
    return AccessScope(
        patient_ids=frozenset(patients) if patients is not None else None,
        readable=frozenset(data.get("readable", ())),
        writable=frozenset(),
        open_types=frozenset(data.get("open_types", ())),
        actor=str(data.get("actor", "")),
        type_filters=MappingProxyType({t: tuple(q) for t, q in data["type_filters"].items()}),
    )


def selection_of(job: ExportJob) -> ExportSelection:
    patients = frozenset(job.patients) if job.patients is not None else None
    return ExportSelection(
        request=ExportRequest.from_json(job.parameters),
        until=job.transaction_time,
        patient_level=job.level != ExportLevel.SYSTEM,
        patients=patients,
    )


def _client_id(actor: str) -> str:
    for word in actor.split():
        if word.startswith("client:"):
            return word.removeprefix("client:")
    return ""


def export_kickoff(*, scope: AccessScope, kickoff: KickOff) -> ExportJob:
    """Record an export job for the caller and schedule it; 403 when the caller may not ask."""
    if kickoff.level == ExportLevel.SYSTEM and not scope.unrestricted:
        raise Forbidden(
            "A system-level $export needs system/ scopes; export your own record with "
            "Patient/$export"
        )
    patients = _group_members(scope, kickoff.group_id) if kickoff.group_id else None
    job = ExportJob(
        owner=scope.actor,
        client_id=_client_id(scope.actor),
        level=kickoff.level,
        group_id=kickoff.group_id,
        request_url=kickoff.request_url,
        parameters=kickoff.request.to_json(),
        scope=scope_to_json(scope),
        patients=sorted(patients) if patients is not None else None,
        transaction_time=timezone.now(),
    )
    check_export_types(selection=selection_of(job), scope=scope)
    job.save(force_insert=True)
    from integrations.tasks import export_dispatch

    transaction.on_commit(lambda: export_dispatch(job_id=job.id))
    return job


def _group_members(scope: AccessScope, group_id: str) -> set[str]:
    """The Group's active Patient members (read with the caller's access: 404 if not theirs)."""
    stored = Repository(scope=scope).read(resource_type="Group", logical_id=group_id)
    group = jsontext.loads(stored.text)
    members = set()
    for member in group.get("member") or []:
        reference = (member.get("entity") or {}).get("reference", "")
        kind, _, logical_id = reference.partition("/")
        if kind == "Patient" and logical_id and not member.get("inactive"):
            members.add(logical_id)
    return members


def export_cancel(*, job: ExportJob) -> None:
    """Cancel a running job, or delete a finished one and its files (both then answer 404).

    A worker running the job finds its row gone when it next saves progress and stops, deleting
    what it wrote since."""
    delete_job_files(str(job.id))
    ExportJob.objects.filter(pk=job.pk).delete()


def export_cleanup(*, now: datetime | None = None) -> int:
    """Delete expired jobs and their files; return how many went."""
    now = now or timezone.now()
    expired = list(ExportJob.objects.filter(expires__lte=now).values_list("pk", flat=True))
    for job_id in expired:
        delete_job_files(str(job_id))
    ExportJob.objects.filter(pk__in=expired).delete()
    return len(expired)


def export_finish(*, job: ExportJob, ttl: timedelta, error: str = "") -> None:
    """Fields of a finished job (completed, or failed with `error`) and its expiry."""
    now = timezone.now()
    job.status = ExportStatus.FAILED if error else ExportStatus.COMPLETED
    job.error = error[:2000]
    job.finished = now
    job.expires = now + ttl
    job.runner = ""
    job.lease_until = None


def export_audit(*, job: ExportJob) -> None:
    """Record the job's outcome in the audit log (the kick-off itself was audited as a request):
    one row per patient concerned, or one row for a system-level export."""
    scope = scope_from_json(job.scope)
    patients = sorted(job.patients or scope.patient_ids or []) or [""]
    fields = {
        "request_id": uuid.uuid4(),
        "recorded": timezone.now(),
        "action": "E",
        "interaction": "operation",
        "outcome": "0" if job.finished_ok else "8",
        "status": 200 if job.finished_ok else 500,
        "method": "",
        "path": f"$export/{job.id}"[:500],
        "query": f"export {job.status}: {job.exported} resources; {job.error}"[:2000],
        "actor": job.owner[:120],
        "client_id": job.client_id,
        "entity": f"Group/{job.group_id}" if job.group_id else "",
    }
    AuditRecord.objects.bulk_create([AuditRecord(patient_id=p, **fields) for p in patients[:50]])
