"""Bulk ingest over HTTP: `POST [base]/$import` (kick-off), its status and its error files.

The kick-off takes a Parameters resource naming NDJSON files in the import storage, needs
`Prefer: respond-async` and system write access, and answers 202 with the status URL in
`Content-Location`, like `$export`. Status answers 202 with `X-Progress` while the job runs, then
200 with a manifest (resources written by type, OperationOutcome NDJSON error files) or a 500
OperationOutcome when it failed. Only the client (and user) that started a job sees it.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from api.fhir import capability, negotiation
from api.fhir.responses import (
    base_url,
    fhir_view,
    job_in_progress,
    manifest_response,
    ndjson_response,
    respond,
)
from fhirstore.context import AccessScope
from fhirstore.errors import FhirError, InvalidRequest
from fhirstore.outcome import info_doc
from fhirstore.repository import Repository
from integrations.import_models import ImportStatus
from integrations.import_tasks import import_redispatch_if_stale
from integrations.importing import (
    import_file_name,
    import_job_for,
    import_kickoff,
    import_manifest,
    import_progress,
    parse_import,
)

JOB = r"(?P<job_id>[0-9a-fA-F\-]{32,36})"
_NO_ACCESS = AccessScope(readable=frozenset(), writable=frozenset(), actor="anonymous")


@fhir_view(methods=("POST",))
def import_kickoff_view(request: HttpRequest, repo: Repository) -> HttpResponse:
    """`POST [base]/$import`: accept the job, 202 with its status URL."""
    prefer = {p.strip().lower() for p in request.headers.get("Prefer", "").split(",")}
    if "respond-async" not in prefer:
        raise InvalidRequest("$import runs asynchronously: send the header Prefer: respond-async")
    import_request = parse_import(negotiation.read_body(request))
    job = import_kickoff(
        scope=repo.scope, request=import_request, request_url=f"{base_url()}/$import"
    )
    location = f"{base_url()}/$import-status/{job.id}"
    body = info_doc(f"Import job {job.id} accepted; poll {location}")
    return respond(request, body, status=202, headers={"Content-Location": location})


@fhir_view(methods=("GET",))
def import_status(request: HttpRequest, repo: Repository, job_id: str) -> HttpResponse:
    """Poll (202 with X-Progress), the manifest (200), or the failure (500)."""
    job = import_job_for(job_id=job_id, scope=repo.scope)
    if job.status in (ImportStatus.ACCEPTED, ImportStatus.RUNNING):
        import_redispatch_if_stale(job=job)
        return job_in_progress(request, import_progress(job))
    if job.status == ImportStatus.FAILED:
        raise FhirError(job.error or "The import failed", http_status=500, code="exception")
    return manifest_response(import_manifest(job=job, base_url=base_url()))


@fhir_view(methods=("GET",), negotiate=False)
def import_file(request: HttpRequest, repo: Repository, job_id: str, name: str) -> HttpResponse:
    """One error file of the caller's job, as NDJSON."""
    job = import_job_for(job_id=job_id, scope=repo.scope)
    return ndjson_response(import_file_name(job=job, name=name))


capability.OPERATIONS.update(
    {"import": ("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import", "/$import")}
)

urlpatterns = [
    re_path(r"^/\$import/?$", import_kickoff_view, name="fhir-import"),
    re_path(rf"^/\$import-status/{JOB}/?$", import_status, name="fhir-import-status"),
    re_path(
        rf"^/\$import-file/{JOB}/(?P<name>[A-Za-z0-9\-\.]{{1,100}})$",
        import_file,
        name="fhir-import-file",
    ),
]
