"""Bulk ingest over HTTP (`POST /fhir/$import`): kick-off, status and progress, the manifest and
its OperationOutcome error files, all-or-nothing mode, access, inputs outside the storage, a
resumed job, and the same result as `load_fhir` on the same file.

Jobs run eagerly here, when the kick-off commits; tests/e2e would run them on a real worker.
"""

import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from access.services import system_token_issue
from fhirstore.models import Resource
from integrations.import_models import ImportJob, ImportStatus
from integrations.import_tasks import import_recover
from integrations.importing import import_run
from tests.access import personas
from tests.api.fhir.conftest import Fhir

ASYNC = {"Prefer": "respond-async"}
GOOD = [
    {"resourceType": "Patient", "id": "imp-1", "name": [{"family": "One"}]},
    {"resourceType": "Patient", "name": [{"family": "NoId"}]},
    {
        "resourceType": "Observation",
        "id": "imp-o1",
        "status": "final",
        "code": {"text": "pulse"},
        "subject": {"reference": "Patient/imp-1"},
    },
]


@pytest.fixture(autouse=True)
def imports(settings, tmp_path) -> Path:
    folder = tmp_path / "imports"
    folder.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "imports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "exports")},
        },
    }
    settings.BULK_EXPORT = {**settings.BULK_EXPORT, "RUN_IN_THREAD": False}
    settings.BULK_IMPORT = {"BATCH": 2, "PROCESSES": 0}
    return folder


def ndjson(folder: Path, name: str, lines: list) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n")
    return path


def parameters(*urls: str, mode: str | None = None) -> dict:
    params: list[dict] = [{"name": "inputFormat", "valueString": "application/fhir+ndjson"}]
    params += [{"name": "input", "part": [{"name": "url", "valueUrl": url}]} for url in urls]
    if mode:
        params.append({"name": "mode", "valueCode": mode})
    return {"resourceType": "Parameters", "parameter": params}


def kickoff(fhir: Fhir, capture, body: dict, **headers: str):
    with capture(execute=True):
        return fhir.post("/$import", body, **{**ASYNC, **headers})


def status_of(fhir: Fhir, response):
    location = response["Content-Location"]
    return fhir.get(location.split("/fhir", 1)[1])


def test_valid_lines_load_and_bad_lines_go_to_the_error_file(
    fhir, imports, django_capture_on_commit_callbacks
):
    lines = [GOOD[0], "{not json", GOOD[1], {"resourceType": "Patient", "gender": 42}, GOOD[2]]
    ndjson(imports, "mixed.ndjson", lines)

    response = kickoff(
        fhir, django_capture_on_commit_callbacks, parameters("storage://imports/mixed.ndjson")
    )

    assert response.status_code == 202
    assert response["Content-Location"].startswith("http://127.0.0.1:8000/fhir/$import-status/")
    status = status_of(fhir, response)
    assert status.status_code == 200
    manifest = status.json()
    assert manifest["output"] == [
        {"type": "Observation", "count": 1},
        {"type": "Patient", "count": 2},
    ]
    assert manifest["requiresAccessToken"] is True
    errors = [
        json.loads(line) for item in manifest["error"] for line in download(fhir, item["url"])
    ]
    diagnostics = [e["issue"][0]["diagnostics"] for e in errors]
    assert [d.split(":")[0] for d in diagnostics] == ["mixed.ndjson line 2", "mixed.ndjson line 4"]
    assert all(e["resourceType"] == "OperationOutcome" for e in errors)
    assert Resource.objects.filter(resource_type="Patient").count() == 2


def download(fhir, url):
    response = fhir.client.get(url.split("127.0.0.1:8000", 1)[1])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    return b"".join(response.streaming_content).decode().splitlines()


def test_resources_with_stored_ids_are_updated_keeping_the_id(
    fhir, imports, django_capture_on_commit_callbacks
):
    ndjson(imports, "a.ndjson", [GOOD[0]])
    ndjson(imports, "b.ndjson", [{**GOOD[0], "name": [{"family": "Changed"}]}])
    kickoff(fhir, django_capture_on_commit_callbacks, parameters("a.ndjson"))

    kickoff(fhir, django_capture_on_commit_callbacks, parameters("b.ndjson"))

    row = Resource.objects.get(resource_type="Patient", logical_id="imp-1")
    assert row.version == 2
    assert "Changed" in row.text


def test_transaction_mode_leaves_nothing_when_a_line_is_bad(
    fhir, imports, django_capture_on_commit_callbacks
):
    ndjson(
        imports,
        "bad.ndjson",
        [GOOD[0], GOOD[1], GOOD[2], {"resourceType": "Patient", "gender": 1}],
    )

    ndjson(imports, "good.ndjson", [{**GOOD[0], "id": "imp-first-file"}])

    response = kickoff(
        fhir,
        django_capture_on_commit_callbacks,
        parameters("good.ndjson", "bad.ndjson", mode="transaction"),
    )

    status = status_of(fhir, response)
    assert status.status_code == 500
    assert "line 4" in status.json()["issue"][0]["diagnostics"]
    assert not Resource.objects.filter(resource_type__in=["Patient", "Observation"]).exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/data.ndjson",
        "http://127.0.0.1:6379/",
        "file:///etc/passwd",
        "/etc/passwd",
        "../secret.ndjson",
        "storage://imports/../../secret.ndjson",
        "storage://other/data.ndjson",
        "missing.ndjson",
    ],
)
def test_inputs_outside_the_import_storage_are_refused(
    fhir, url, django_capture_on_commit_callbacks
):
    response = kickoff(fhir, django_capture_on_commit_callbacks, parameters(url))

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Parameters", "parameter": []},
        {"resourceType": "Parameters", "parameter": [{"name": "input"}]},
        {"resourceType": "Parameters", "parameter": ["x"]},
    ],
)
def test_bad_kickoff_bodies_are_a_400(fhir, body, django_capture_on_commit_callbacks):
    assert kickoff(fhir, django_capture_on_commit_callbacks, body).status_code == 400


def test_kickoff_needs_respond_async(fhir, imports):
    ndjson(imports, "a.ndjson", [GOOD[0]])

    assert fhir.post("/$import", parameters("a.ndjson")).status_code == 400


def test_only_system_write_access_may_import(
    client, db, imports, django_capture_on_commit_callbacks
):
    ndjson(imports, "a.ndjson", [GOOD[0]])
    reader = system_token_issue(client_name="reader", scope="system/*.rs")
    personas.put({"resourceType": "Patient", "id": "ann"})
    user = personas.login("ann", kind="patient", fhir_id="ann")
    patient = personas.token(user, "patient/*.*", patient_id="ann")

    for token in (reader, patient):
        response = kickoff(
            Fhir(client, token), django_capture_on_commit_callbacks, parameters("a.ndjson")
        )
        assert response.status_code == 403
    assert not ImportJob.objects.exists()
    assert not Resource.objects.filter(logical_id="imp-1").exists()


def test_a_queued_job_answers_202_with_progress_and_another_client_gets_404(fhir, client, imports):
    ndjson(imports, "a.ndjson", [GOOD[0]])
    response = fhir.post("/$import", parameters("a.ndjson"), **ASYNC)  # on_commit never runs

    status = status_of(fhir, response)
    assert status.status_code == 202
    assert status["X-Progress"] == "queued"
    other = Fhir(client, system_token_issue(client_name="other", scope="system/*.*"))
    assert status_of(other, response).status_code == 404


def test_a_job_resumes_after_its_last_committed_batch(db, imports):
    ndjson(imports, "a.ndjson", [GOOD[0], GOOD[1], GOOD[2]])
    job = ImportJob.objects.create(
        owner="system", request_url="x", inputs=["a.ndjson"], status=ImportStatus.RUNNING, line=2
    )

    assert import_run(job_id=job.id) == "completed"

    job.refresh_from_db()
    assert (job.status, job.imported, job.line, job.input_index) == ("completed", 1, 0, 1)
    assert list(Resource.objects.values_list("logical_id", flat=True)) == ["imp-o1"]
    assert import_run(job_id=uuid.uuid4()).startswith("not runnable")


def test_the_cli_and_the_endpoint_store_the_same(fhir, imports, django_capture_on_commit_callbacks):
    path = ndjson(imports, "same.ndjson", [GOOD[0], "[1]", GOOD[2], GOOD[1]])
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_fhir", str(path), "--no-progress", stdout=out)
    by_cli = snapshot()
    Resource.objects.all().delete()

    response = kickoff(fhir, django_capture_on_commit_callbacks, parameters("same.ndjson"))

    assert snapshot() == by_cli
    manifest = status_of(fhir, response).json()
    assert sum(item["count"] for item in manifest["output"]) == 3
    assert "Resources written: 3" in out.getvalue()
    assert "same.ndjson: line 2:" in out.getvalue()
    assert [item["count"] for item in manifest["error"]] == [1]


def snapshot() -> set[tuple[str, str, int]]:
    """(type, id or '*' for server ids, version) of every stored resource."""
    rows = Resource.objects.values_list("resource_type", "logical_id", "version")
    return {(t, i if i.startswith("imp") else "*", v) for t, i, v in rows}


def test_a_job_whose_worker_died_is_resumed_by_the_recovery_task(db, imports):
    ndjson(imports, "a.ndjson", [GOOD[0], GOOD[1], GOOD[2]])
    job = ImportJob.objects.create(
        owner="system",
        request_url="x",
        inputs=["a.ndjson"],
        status=ImportStatus.RUNNING,
        line=2,
        runner="dead-worker",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    assert import_recover() == 1

    job.refresh_from_db()
    assert (job.status, job.imported) == ("completed", 1)
    assert import_recover() == 0
