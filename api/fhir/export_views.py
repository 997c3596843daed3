"""Bulk Data `$export` over HTTP: kick-off at system, all-patients and Group level, the status
endpoint (poll, manifest, cancel) and the file download.

Kick-off needs `Prefer: respond-async` and answers 202 with the status URL in `Content-Location`;
it only records the job and schedules it. The manifest and files belong to the client (and user)
that started the job: anyone else gets 404. Files are NDJSON, streamed from storage, and need
the bearer token even though the manifest carries absolute URLs (`requiresAccessToken`).
https://hl7.org/fhir/uv/bulkdata/export.html
"""

from urllib.parse import parse_qsl

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
from fhirstore.operations.export.params import parameters_pairs, parse_export_params
from fhirstore.outcome import info_doc
from fhirstore.repository import Repository
from integrations.models import ExportLevel, ExportStatus
from integrations.selectors import (
    export_file_name,
    export_job_for,
    export_manifest,
    export_progress,
)
from integrations.services import KickOff, export_cancel, export_cleanup, export_kickoff
from integrations.tasks import export_redispatch_if_stale

ID = r"(?P<logical_id>[A-Za-z0-9\-\.]{1,64})"
JOB = r"(?P<job_id>[0-9a-fA-F\-]{32,36})"
_NO_ACCESS = AccessScope(readable=frozenset(), writable=frozenset(), actor="anonymous")


def _prefer(request: HttpRequest) -> set[str]:
    return {p.strip().lower() for p in request.headers.get("Prefer", "").split(",")}


def _kickoff_params(request: HttpRequest) -> list[tuple[str, str]]:
    params = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    if request.method == "POST":
        params += parameters_pairs(negotiation.read_body(request))
    return params


def _request_url(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    path = request.path.removeprefix("/fhir")
    return f"{base_url()}{path}" + (f"?{query}" if query else "")


def _kickoff(
    request: HttpRequest, repo: Repository, level: ExportLevel, group_id: str = ""
) -> HttpResponse:
    prefer = _prefer(request)
    if "respond-async" not in prefer:
        raise InvalidRequest("$export runs asynchronously: send the header Prefer: respond-async")
    export_request = parse_export_params(
        _kickoff_params(request),
        lenient="handling=lenient" in prefer,
        posted=request.method == "POST",
    )
    export_cleanup()
    kickoff = KickOff(
        level=level, request=export_request, request_url=_request_url(request), group_id=group_id
    )
    job = export_kickoff(scope=repo.scope, kickoff=kickoff)
    location = f"{base_url()}/$export-status/{job.id}"
    body = info_doc(f"Export job {job.id} accepted; poll {location}")
    return respond(request, body, status=202, headers={"Content-Location": location})


@fhir_view(methods=("GET", "POST"))
def export_system(request: HttpRequest, repo: Repository) -> HttpResponse:
    """`[base]/$export`: every resource the (system) caller may read."""
    return _kickoff(request, repo, ExportLevel.SYSTEM)


@fhir_view(methods=("GET", "POST"))
def export_patients(request: HttpRequest, repo: Repository) -> HttpResponse:
    """`[base]/Patient/$export`: every patient's compartment the caller may read (a patient's
    own token: their own record)."""
    return _kickoff(request, repo, ExportLevel.PATIENT)


@fhir_view(methods=("GET", "POST"))
def export_group(request: HttpRequest, repo: Repository, logical_id: str) -> HttpResponse:
    """`[base]/Group/[id]/$export`: the compartments of the Group's Patient members."""
    return _kickoff(request, repo, ExportLevel.GROUP, group_id=logical_id)


@fhir_view(methods=("GET", "DELETE"))
def export_status(request: HttpRequest, repo: Repository, job_id: str) -> HttpResponse:
    """Poll (202 with X-Progress), the manifest (200), a failure (500), or cancel (DELETE)."""
    job = export_job_for(job_id=job_id, scope=repo.scope)
    if request.method == "DELETE":
        export_cancel(job=job)
        return respond(request, info_doc(f"Export job {job_id} cancelled and deleted"), status=202)
    if job.status in (ExportStatus.ACCEPTED, ExportStatus.RUNNING):
        export_redispatch_if_stale(job=job)
        return job_in_progress(request, export_progress(job))
    if job.status == ExportStatus.FAILED:
        raise FhirError(job.error or "The export failed", http_status=500, code="exception")
    response = manifest_response(dict(export_manifest(job=job, base_url=base_url())))
    if job.expires is not None:
        response["Expires"] = job.expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


@fhir_view(methods=("GET", "HEAD"), negotiate=False)
def export_file(request: HttpRequest, repo: Repository, job_id: str, name: str) -> HttpResponse:
    """One output or error file, streamed as NDJSON to the job's owner."""
    job = export_job_for(job_id=job_id, scope=repo.scope)
    return ndjson_response(export_file_name(job=job, name=name))


capability.OPERATIONS.update(
    {
        "export": ("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export", "/$export"),
        "patient-export": (
            "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
            "/Patient/$export",
        ),
        "group-export": (
            "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
            "/Group/example/$export",
        ),
    }
)

urlpatterns = [
    re_path(r"^/\$export/?$", export_system, name="fhir-export"),
    re_path(r"^/Patient/\$export/?$", export_patients, name="fhir-patient-export"),
    re_path(rf"^/Group/{ID}/\$export/?$", export_group, name="fhir-group-export"),
    re_path(rf"^/\$export-status/{JOB}/?$", export_status, name="fhir-export-status"),
    re_path(
        rf"^/\$export-file/{JOB}/(?P<name>[A-Za-z0-9\-\.]{{1,100}})$",
        export_file,
        name="fhir-export-file",
    ),
]
