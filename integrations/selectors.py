"""Reads of Bulk Data export jobs: the caller's job, its progress line and its manifest.

A job is visible only to the owner that started it (the same client, and the same user for a
user's token); to anyone else, and once cancelled or expired, it does not exist (404).
https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request
"""

import uuid
from typing import TypedDict

from django.utils import timezone

from fhirstore.context import AccessScope
from fhirstore.errors import NotFound
from fhirstore.stored import format_instant
from integrations.files import delete_job_files
from integrations.models import ExportJob, ExportStatus


class OutputItem(TypedDict):
    type: str
    url: str
    count: int


class Manifest(TypedDict):
    transactionTime: str
    request: str
    requiresAccessToken: bool
    output: list[OutputItem]
    error: list[OutputItem]


def export_job_for(*, job_id: str, scope: AccessScope) -> ExportJob:
    """The caller's job; NotFound for an unknown, foreign, cancelled or expired one (an expired
    job's files are deleted on the spot, which is the embedded mode's cleanup)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"No export job {job_id}") from None
    job = ExportJob.objects.filter(pk=key, owner=scope.actor).first()
    if job is None:
        raise NotFound(f"No export job {job_id}")
    if job.expired(timezone.now()):
        delete_job_files(str(job.id))
        job.delete()
        raise NotFound(f"Export job {job_id} has expired")
    return job


def export_progress(job: ExportJob) -> str:
    """The `X-Progress` text of a running job."""
    if job.status == ExportStatus.ACCEPTED or not job.planned:
        return "queued"
    done = min(job.type_index, len(job.types))
    current = f"; exporting {job.types[done]}" if done < len(job.types) else ""
    return f"{job.exported} resources, {done} of {len(job.types)} types done{current}"


def file_url(base_url: str, job_id: str, name: str) -> str:
    return f"{base_url}/$export-file/{job_id}/{name.rsplit('/', 1)[-1]}"


def export_manifest(*, job: ExportJob, base_url: str) -> Manifest:
    """The completion manifest: absolute file URLs, one or more files per type, with counts.
    https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status"""
    job_id = str(job.id)
    output: list[OutputItem] = [
        {"type": f["type"], "url": file_url(base_url, job_id, f["name"]), "count": f["count"]}
        for f in job.files
    ]
    errors: list[OutputItem] = [
        {
            "type": "OperationOutcome",
            "url": file_url(base_url, job_id, f["name"]),
            "count": f["count"],
        }
        for f in job.error_files
    ]
    return {
        "transactionTime": format_instant(job.transaction_time),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": output,
        "error": errors,
    }


def export_file_name(*, job: ExportJob, name: str) -> str:
    """The storage name of one of a completed job's files; NotFound for any other name."""
    names = {f["name"].rsplit("/", 1)[-1]: f["name"] for f in [*job.files, *job.error_files]}
    if job.status != ExportStatus.COMPLETED or name not in names:
        raise NotFound(f"No file {name} in export job {job.id}")
    return str(names[name])
