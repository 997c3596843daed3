"""Bulk ingest jobs (`$import`): kick-off, running a job, and what its status reports.

Only NDJSON files already in the configured storage (`STORAGES["imports"]`, the `BULK_IMPORT_DIR`
folder by default) can be imported, named `storage://imports/<path>` or by their relative path:
the server never fetches a URL a client hands it. Only a caller with system write access to every
type may import. The kick-off records the job and schedules it after commit; the job then runs
on a worker (a thread when embedded) through the same ingest path as `load_fhir`
(`fhirstore.bundles.ingest`). Each batch commits together with the job's position and counters,
and its per-line errors are saved first to a file named by that position, so a job resumed after
its worker died carries on after the last committed batch and rewrites, never duplicates, error
files. With `mode=transaction` the whole import is one transaction: any bad line and nothing is
stored. https://hl7.org/fhir/uv/bulkdata/
"""

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone

from fhirstore import jsontext
from fhirstore.bundles.ingest import IngestFailed, Progress, ingest_ndjson
from fhirstore.context import AccessScope
from fhirstore.errors import FhirError, Forbidden, InvalidRequest
from fhirstore.repository import Repository
from fhirstore.stored import format_instant
from integrations import conf
from integrations.files import write_lines
from integrations.import_models import ImportJob, ImportStatus
from integrations.leases import job_claim

logger = logging.getLogger(__name__)
STORAGE_PREFIX = "storage://imports/"
_ACTIVE = (ImportStatus.ACCEPTED, ImportStatus.RUNNING)


def import_storage() -> Storage:
    return storages["imports"] if "imports" in settings.STORAGES else storages["default"]


def batch_size() -> int:
    return int(getattr(settings, "BULK_IMPORT", {}).get("BATCH", 500))


def processes() -> int:
    """Extra processes validating ahead of the writer (none inside a Celery prefork child)."""
    return int(getattr(settings, "BULK_IMPORT", {}).get("PROCESSES", 0))


@dataclass(frozen=True)
class ImportRequest:
    """A validated kick-off: the storage names to load, in order, and the mode."""

    inputs: tuple[str, ...]
    atomic: bool


def storage_name(url: str) -> str:
    """The storage name an input URL names; InvalidRequest for anything outside the storage."""
    name = url.removeprefix(STORAGE_PREFIX) if url.startswith(STORAGE_PREFIX) else url
    path = PurePosixPath(name)
    if (
        not name
        or "://" in name
        or ":" in name
        or path.is_absolute()
        or ".." in path.parts
        or "\\" in name
    ):
        raise InvalidRequest(
            f"Input {url!r} is not in the import storage: name a file as "
            f"{STORAGE_PREFIX}<path> or by its relative path; other URLs are never fetched"
        )
    if not import_storage().exists(name):
        raise InvalidRequest(
            f"Input {url!r} does not exist in the import storage", code="not-found"
        )
    return name


def _input_url(parameter: dict[str, Any]) -> str:
    if isinstance(parameter.get("valueUrl"), str):
        return str(parameter["valueUrl"])
    for part in parameter.get("part") or []:
        if isinstance(part, dict) and part.get("name") == "url":
            value = part.get("valueUrl") or part.get("valueUri") or part.get("valueString")
            if isinstance(value, str):
                return value
    raise InvalidRequest("Each input parameter needs a url (valueUrl, or a part named url)")


def parse_import(body: Any) -> ImportRequest:
    """Read the kick-off Parameters: `input` (one per file), `mode` (batch or transaction),
    `inputFormat` (NDJSON only)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("$import takes a Parameters resource")
    inputs: list[str] = []
    mode = "batch"
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict):
            raise InvalidRequest("Parameters.parameter must hold objects")
        name = parameter.get("name")
        if name == "input":
            inputs.append(storage_name(_input_url(parameter)))
        elif name == "mode":
            mode = str(parameter.get("valueCode") or parameter.get("valueString") or "")
        elif name == "inputFormat":
            value = str(parameter.get("valueCode") or parameter.get("valueString") or "")
            if value not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
                raise InvalidRequest(f"inputFormat {value!r} is not supported: NDJSON only")
    if mode not in ("batch", "transaction"):
        raise InvalidRequest(f"mode must be batch or transaction, not {mode!r}")
    if not inputs:
        raise InvalidRequest("$import needs at least one input")
    return ImportRequest(tuple(inputs), atomic=mode == "transaction")


def import_kickoff(*, scope: AccessScope, request: ImportRequest, request_url: str) -> ImportJob:
    """Record an import job and schedule it; 403 unless the caller may write every type."""
    if not scope.unrestricted or not scope.may_write("*"):
        raise Forbidden("$import needs system write access to all types (system/*.c or *.*)")
    job = ImportJob.objects.create(
        owner=scope.actor,
        request_url=request_url,
        inputs=list(request.inputs),
        atomic=request.atomic,
    )
    from integrations.import_tasks import import_dispatch

    transaction.on_commit(lambda: import_dispatch(job_id=job.id))
    return job


# --- running a job ----------------------------------------------------------------------------


class LeaseLost(Exception):
    """The job was finished or taken over by another worker: stop quietly."""


def _claim(job_id: uuid.UUID, runner: str) -> ImportJob | None:
    return job_claim(
        ImportJob, job_id=job_id, runner=runner, active=_ACTIVE, running=ImportStatus.RUNNING
    )


def import_run(*, job_id: uuid.UUID) -> str:
    """Run (or resume) one import job to its end; returns what happened."""
    runner = uuid.uuid4().hex
    job = _claim(job_id, runner)
    if job is None:
        return "not runnable (finished or owned by a live worker)"
    if job.attempts > conf.max_attempts():
        _finish(job, runner, error=f"gave up after {conf.max_attempts()} attempts")
        return "failed"
    repo = Repository(scope=AccessScope(actor=job.owner))
    try:
        # mode=transaction: every input in one transaction, so a bad line anywhere stores nothing.
        with transaction.atomic() if job.atomic else nullcontext():
            while job.input_index < len(job.inputs):
                _run_input(job, runner, repo)
    except LeaseLost:
        return "stopped (taken over)"
    except IngestFailed as error:
        _finish(job, runner, error=f"{job.inputs[job.input_index]}: {error.diagnostics}")
        return "failed"
    _finish(job, runner)
    return "completed"


def _run_input(job: ImportJob, runner: str, repo: Repository) -> None:
    name = job.inputs[job.input_index]

    def saved(step: Progress) -> None:
        _save_errors(job, step)
        _advance(job, runner, step)

    with import_storage().open(name, "rb") as stream:
        ingest_ndjson(
            repo=repo,
            stream=stream,
            atomic=job.atomic,
            skip=job.line,
            on_batch=saved,
            size=batch_size(),
            processes=processes(),
        )
    job.input_index, job.line = job.input_index + 1, 0
    _save(job, runner)


def _save_errors(job: ImportJob, step: Progress) -> None:
    """Write a batch's line errors to a file named by its position (a redo replaces it)."""
    if not step.errors:
        return
    source = job.inputs[job.input_index]
    name = f"import-{job.id}/errors-{job.input_index + 1}-{step.errors[0].line}.ndjson"
    lines = (jsontext.dumps(error.outcome(source)).decode() for error in step.errors)
    count = write_lines(name, lines)
    job.error_files = [*job.error_files, {"name": name, "count": count}]
    job.failed_lines += count


def _advance(job: ImportJob, runner: str, step: Progress) -> None:
    """Move the job's position past the batch just written (inside that batch's transaction)."""
    job.line = step.line
    job.imported += step.total
    job.written = {
        kind: job.written.get(kind, 0) + step.written.get(kind, 0)
        for kind in {*job.written, *step.written}
    }
    _save(job, runner)


def _save(job: ImportJob, runner: str) -> None:
    updated = ImportJob.objects.filter(
        pk=job.pk, runner=runner, status=ImportStatus.RUNNING
    ).update(
        input_index=job.input_index,
        line=job.line,
        imported=job.imported,
        written=job.written,
        failed_lines=job.failed_lines,
        error_files=job.error_files,
        lease_until=timezone.now() + timedelta(seconds=conf.lease_seconds()),
    )
    if not updated:
        raise LeaseLost(str(job.pk))


def _finish(job: ImportJob, runner: str, *, error: str = "") -> None:
    ImportJob.objects.filter(pk=job.pk, runner=runner).update(
        status=ImportStatus.FAILED if error else ImportStatus.COMPLETED,
        error=error[:2000],
        finished=timezone.now(),
        runner="",
        lease_until=None,
    )
    if error:
        logger.warning("import job %s failed: %s", job.pk, error)


def import_fail(*, job_id: uuid.UUID, error: str) -> None:
    """Fail a job after an unexpected error in its task."""
    ImportJob.objects.filter(pk=job_id, status__in=_ACTIVE).update(
        status=ImportStatus.FAILED, error=error[:2000], finished=timezone.now(), lease_until=None
    )


# --- status -----------------------------------------------------------------------------------


def import_job_for(*, job_id: str, scope: AccessScope) -> ImportJob:
    """The caller's job; NotFound (as FhirError 404) for an unknown or foreign one."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        key = None
    job = ImportJob.objects.filter(pk=key, owner=scope.actor).first() if key else None
    if job is None:
        raise FhirError(f"No import job {job_id}", http_status=404, code="not-found")
    return job


def import_progress(job: ImportJob) -> str:
    """The `X-Progress` text of a running job."""
    if job.status == ImportStatus.ACCEPTED:
        return "queued"
    return (
        f"{job.imported} resources imported, {job.failed_lines} lines failed; "
        f"file {min(job.input_index + 1, len(job.inputs))} of {len(job.inputs)}, line {job.line}"
    )


def import_manifest(*, job: ImportJob, base_url: str) -> dict[str, Any]:
    """The completion manifest: counts by type, and the OperationOutcome error files."""
    errors = [
        {
            "type": "OperationOutcome",
            "url": f"{base_url}/$import-file/{job.id}/{f['name'].rsplit('/', 1)[-1]}",
            "count": f["count"],
        }
        for f in job.error_files
    ]
    return {
        "transactionTime": format_instant(job.finished or job.created),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": t, "count": n} for t, n in sorted(job.written.items())],
        "error": errors,
    }


def import_file_name(*, job: ImportJob, name: str) -> str:
    """The storage name of one of the job's error files; 404 for any other name."""
    names = {f["name"].rsplit("/", 1)[-1]: f["name"] for f in job.error_files}
    if name not in names:
        raise FhirError(f"No file {name} in import job {job.id}", http_status=404, code="not-found")
    return str(names[name])
