"""Export jobs survive their workers: a run that stops mid-job resumes from its last saved file
and ends with exactly the right data; a leased job is not run twice; a cancelled run stops and
leaves no files; a job that keeps dying fails with a clear error, never reported complete."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from fhirstore.context import SYSTEM
from fhirstore.operations.export.params import ExportRequest
from integrations import exporting, files
from integrations.exporting import export_run
from integrations.models import ExportJob, ExportLevel, ExportStatus
from integrations.services import export_cancel, scope_to_json
from integrations.tasks import export_recover
from tests.fhirstore.search.querying import observation, patient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _export_settings(settings, tmp_path):
    settings.BULK_EXPORT = {
        "TTL_SECONDS": 3600,
        "FILE_MAX_MB": 0.004,  # about 4 KB: a few Observations per file
        "LEASE_SECONDS": 60,
        "MAX_ATTEMPTS": 3,
        "RUN_IN_THREAD": False,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "exports")},
        },
    }


@pytest.fixture
def data():
    patient("ann")
    for n in range(40):
        observation(subject="Patient/ann", logical_id=f"o{n:02d}")


def new_job(**fields):
    return ExportJob.objects.create(
        owner="system",
        level=ExportLevel.SYSTEM,
        request_url="http://x/fhir/$export",
        parameters=ExportRequest(types=("Patient", "Observation")).to_json(),
        scope=scope_to_json(SYSTEM),
        transaction_time=timezone.now(),
        **fields,
    )


def exported_ids(job):
    ids = []
    for item in job.files:
        text = b"".join(files.iter_file(item["name"])).decode()
        ids += [line.split('"id":"')[1].split('"')[0] for line in text.splitlines()]
    return ids


class Crash(BaseException):
    """Stands for the process dying (BaseException: nothing in the job catches it)."""


def crash_on_save(monkeypatch, after):
    saved = []
    real_save = files.PartWriter.save

    def save(self, name):
        if len(saved) == after:
            raise Crash(name)
        saved.append(name)
        real_save(self, name)

    monkeypatch.setattr(files.PartWriter, "save", save)


def test_a_job_stopped_mid_type_resumes_from_its_last_file(data, monkeypatch):
    job = new_job()
    crash_on_save(monkeypatch, after=3)
    with pytest.raises(Crash):
        export_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING
    assert (job.type_index, len(job.files)) == (1, 3)
    assert job.after_pk > 0

    monkeypatch.undo()
    assert export_run(job_id=job.id) == "completed"

    job.refresh_from_db()
    assert (job.status, job.attempts) == (ExportStatus.COMPLETED, 2)
    ids = exported_ids(job)
    assert sorted(ids) == sorted(["ann", *(f"o{n:02d}" for n in range(40))])  # no duplicates
    assert job.exported == 41


def test_a_job_whose_worker_vanished_is_recovered_after_its_lease(data, monkeypatch):
    job = new_job()
    crash_on_save(monkeypatch, after=2)
    with pytest.raises(Crash):
        export_run(job_id=job.id)
    monkeypatch.undo()
    # A killed process releases nothing: its lease is still held.
    ExportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() + timedelta(seconds=60))
    assert export_recover() == 0

    ExportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert export_recover() == 1  # dispatched, and run eagerly here

    job.refresh_from_db()
    assert job.status == ExportStatus.COMPLETED
    assert len(exported_ids(job)) == 41


def test_a_leased_job_is_not_run_twice():
    job = new_job(lease_until=timezone.now() + timedelta(seconds=60), status=ExportStatus.RUNNING)

    assert export_run(job_id=job.id).startswith("not runnable")
    assert export_run(job_id=uuid.uuid4()).startswith("not runnable")


def test_a_finished_job_is_not_run_again(data):
    job = new_job()
    export_run(job_id=job.id)

    assert export_run(job_id=job.id).startswith("not runnable")


def test_a_job_that_keeps_dying_fails_with_a_clear_error(data):
    job = new_job(attempts=3)

    assert export_run(job_id=job.id) == "failed"

    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "gave up after 3 attempts" in job.error
    assert job.expires is not None


def test_a_job_cancelled_while_running_stops_and_leaves_no_files(data, monkeypatch, tmp_path):
    job = new_job()
    real_advance = exporting._advance

    def advance(job_row, runner, **kwargs):
        if job_row.files:
            export_cancel(job=job_row)  # the client's DELETE arrives mid-export
        real_advance(job_row, runner, **kwargs)

    monkeypatch.setattr(exporting, "_advance", advance)

    assert export_run(job_id=job.id).startswith("stopped")
    assert not ExportJob.objects.filter(pk=job.pk).exists()
    assert list((tmp_path / "exports").glob("*/*.ndjson")) == []
