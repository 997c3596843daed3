"""Running an export job: claim it, plan its types, write each type's files, finish it.

Restart-safety comes from the job row. A worker claims a job with a lease (one conditional
UPDATE, so two deliveries of the same task never run it twice), and every saved file moves the
job's progress forward in the same kind of UPDATE, which also renews the lease and fails when
the job was cancelled or taken over; the worker then stops and drops what it wrote since. A
worker killed mid-job leaves a job whose lease runs out: the next delivery (task retry, the
recovery task on worker start and on beat) resumes after the last saved file of the current
type. A job is marked completed only after its last file is saved, and gives up with a clear
error after `MAX_ATTEMPTS` claims, so it is never reported complete with data missing.
Each file is read in its own short transaction (a server-side cursor on PostgreSQL) and ends
past `FILE_MAX_MB` or a third of the lease, whichever comes first, so progress is saved (and the
lease renewed) often even when the store is slow.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from fhirstore import jsontext
from fhirstore.context import AccessScope
from fhirstore.models import Resource
from fhirstore.operations.export.rows import (
    ExportSelection,
    export_lines,
    export_reading,
    export_rows,
    export_types,
    skipped_types,
)
from integrations import conf
from integrations.files import (
    PartWriter,
    delete_job_files,
    error_name,
    part_name,
    write_lines,
)
from integrations.leases import job_claim
from integrations.models import ExportJob, ExportStatus
from integrations.services import export_audit, export_finish, scope_from_json, selection_of

logger = logging.getLogger(__name__)
_ACTIVE = (ExportStatus.ACCEPTED, ExportStatus.RUNNING)


class LeaseLost(Exception):
    """The job was cancelled, finished or taken over by another worker: stop quietly."""


def export_run(*, job_id: uuid.UUID) -> str:
    """Run (or resume) one job to its end; returns what happened, for the task result."""
    runner = uuid.uuid4().hex
    job = _claim(job_id, runner)
    if job is None:
        return "not runnable (finished, cancelled or owned by a live worker)"
    if job.attempts > conf.max_attempts():
        _fail(job, f"gave up after {conf.max_attempts()} attempts (workers stopped mid-export)")
        return "failed"
    try:
        _export(job, runner)
    except LeaseLost:
        if not ExportJob.objects.filter(pk=job.pk).exists():
            delete_job_files(str(job.pk))  # cancelled: drop what was saved since
        return "stopped (cancelled or taken over)"
    except BaseException:
        # Let the next delivery (a task retry) claim the job at once.
        ExportJob.objects.filter(pk=job.pk, runner=runner).update(lease_until=None)
        raise
    return "completed"


def _claim(job_id: uuid.UUID, runner: str) -> ExportJob | None:
    return job_claim(
        ExportJob, job_id=job_id, runner=runner, active=_ACTIVE, running=ExportStatus.RUNNING
    )


def _export(job: ExportJob, runner: str) -> None:
    scope = scope_from_json(job.scope)
    selection = selection_of(job)
    if not job.planned:
        _plan(job, runner, selection, scope)
    while job.type_index < len(job.types):
        _export_part(job, runner, selection, scope)
    _advance(job, runner, finished=True)
    export_audit(job=job)


def _plan(job: ExportJob, runner: str, selection: ExportSelection, scope: AccessScope) -> None:
    """Fix the types to write and save the warnings file (lenient handling, skipped types)."""
    job.types = export_types(selection=selection, scope=scope)
    warnings = list(selection.request.warnings) + [
        f"{t} has no patient compartment, so a Patient or Group export holds none"
        for t in skipped_types(selection=selection)
    ]
    if warnings:
        name = error_name(str(job.id), 1)
        count = write_lines(name, (_warning_line(text) for text in warnings))
        job.error_files = [{"name": name, "count": count}]
    job.planned = True
    _advance(job, runner)


def _warning_line(text: str) -> str:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": text}],
    }
    return jsontext.dumps(outcome).decode()


def _export_part(
    job: ExportJob, runner: str, selection: ExportSelection, scope: AccessScope
) -> None:
    """Write the next file of the current type; move to the next type when this one is done."""
    resource_type = job.types[job.type_index]
    rows = export_rows(
        selection=selection, scope=scope, resource_type=resource_type, after=job.after_pk
    )
    writer = PartWriter()
    try:
        last_pk, more = _fill(writer, rows)
        if writer.count:
            name = part_name(str(job.id), resource_type, job.part)
            writer.save(name)
            job.files = [*job.files, {"type": resource_type, "name": name, "count": writer.count}]
    finally:
        writer.discard()
    job.exported += writer.count
    if more:
        job.after_pk, job.part = last_pk, job.part + 1
    else:
        job.type_index, job.after_pk, job.part = job.type_index + 1, 0, 1
    _advance(job, runner)


def _fill(writer: PartWriter, rows: QuerySet[Resource]) -> tuple[int, bool]:
    """Copy rows into `writer` until the file is full; (last key written, whether more remain)."""
    limit, deadline = conf.file_max_bytes(), time.monotonic() + conf.lease_seconds() / 3
    last_pk = 0
    with export_reading():
        for pk, line in export_lines(rows):
            writer.write(line)
            last_pk = pk
            if writer.size >= limit or time.monotonic() > deadline:
                return last_pk, True
    return last_pk, False


def _advance(job: ExportJob, runner: str, *, finished: bool = False) -> None:
    """Save the job's progress and renew the lease, if the job is still this runner's."""
    fields = {
        "types": job.types,
        "planned": job.planned,
        "type_index": job.type_index,
        "after_pk": job.after_pk,
        "part": job.part,
        "files": job.files,
        "error_files": job.error_files,
        "exported": job.exported,
        "lease_until": timezone.now() + timedelta(seconds=conf.lease_seconds()),
    }
    if finished:
        export_finish(job=job, ttl=timedelta(seconds=conf.ttl_seconds()))
        fields.update(
            status=job.status,
            finished=job.finished,
            expires=job.expires,
            runner="",
            lease_until=None,
        )
    updated = ExportJob.objects.filter(
        pk=job.pk, runner=runner, status=ExportStatus.RUNNING
    ).update(**fields)
    if not updated:
        raise LeaseLost(str(job.pk))


def _fail(job: ExportJob, error: str) -> None:
    """Mark the job failed with `error` (files are kept until it expires, then cleaned up)."""
    export_finish(job=job, ttl=timedelta(seconds=conf.ttl_seconds()), error=error)
    ExportJob.objects.filter(pk=job.pk).update(
        status=job.status,
        error=job.error,
        finished=job.finished,
        expires=job.expires,
        runner="",
        lease_until=None,
    )
    logger.warning("export job %s failed: %s", job.pk, error)
    export_audit(job=job)


def export_fail(*, job_id: uuid.UUID, error: str) -> None:
    """Fail a job after an unexpected error in its task (the error is logged by the caller)."""
    job = ExportJob.objects.filter(pk=job_id, status__in=_ACTIVE).first()
    if job is not None:
        _fail(job, error)
