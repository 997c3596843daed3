"""Bulk Data $export over HTTP: kick-off variants and errors, status and manifest format, NDJSON
files, _type/_since/_typeFilter, Group and patient exports, cancellation, expiry, ownership.

Jobs run eagerly here (on commit of the kick-off, in the test process); tests/e2e runs them on a
real Celery worker. https://hl7.org/fhir/uv/bulkdata/export.html
"""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from access.models import AuditRecord
from access.services import system_token_issue
from integrations.models import ExportJob
from tests.access import personas
from tests.fhirstore.search.querying import observation, patient, put

BASE = "http://127.0.0.1:8000/fhir"
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(autouse=True)
def _export_settings(settings, tmp_path):
    settings.BULK_EXPORT = {
        "TTL_SECONDS": 3600,
        "FILE_MAX_MB": 1,
        "LEASE_SECONDS": 60,
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
def world(db):
    put({"resourceType": "Practitioner", "name": [{"family": "Who"}]}, logical_id="doc")
    patient("ann")
    patient("bob")
    for n in range(3):
        observation(subject="Patient/ann", logical_id=f"a{n}")
    observation(subject="Patient/bob", logical_id="b0", code="29463-7")
    put(
        {
            "resourceType": "Group",
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": "Patient/bob"}}],
        },
        logical_id="g1",
    )


@pytest.fixture
def api(fhir, django_capture_on_commit_callbacks):
    """The FHIR test client, with helpers that kick off (running the job) and fetch results."""

    class Api:
        def kickoff(self, path, method="GET", body=None, **headers):
            with django_capture_on_commit_callbacks(execute=True):
                if method == "POST":
                    return fhir.post(path, body, **{**ASYNC, **headers})
                return fhir.get(path, **{**ASYNC, **headers})

        def status(self, response):
            return fhir.get(status_path(response))

        def manifest(self, path, **headers):
            response = self.kickoff(path, **headers)
            assert response.status_code == 202, response.content
            done = self.status(response)
            assert done.status_code == 200, done.content
            return done.json()

        def lines(self, url):
            response = fhir.get(url.removeprefix(BASE), Accept="application/fhir+ndjson")
            assert response.status_code == 200
            assert response["Content-Type"] == "application/fhir+ndjson"
            text = b"".join(response.streaming_content).decode()
            assert text.endswith("\n")
            return [json.loads(line) for line in text.splitlines()]

        def exported(self, manifest):
            return sorted(
                f"{doc['resourceType']}/{doc['id']}"
                for item in manifest["output"]
                for doc in self.lines(item["url"])
            )

    return Api()


def status_path(response):
    return response["Content-Location"].removeprefix(BASE)


def test_system_export_kickoff_answers_202_with_the_status_url(world, api):
    response = api.kickoff("/$export")

    assert response.status_code == 202
    assert response["Content-Location"].startswith(f"{BASE}/$export-status/")
    assert ExportJob.objects.count() == 1


def test_manifest_has_the_spec_fields_and_absolute_file_urls(world, api):
    manifest = api.manifest("/$export?_type=Patient,Observation")

    assert set(manifest) == {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert manifest["request"] == f"{BASE}/$export?_type=Patient,Observation"
    assert manifest["requiresAccessToken"] is True
    assert manifest["transactionTime"].endswith("Z")
    assert manifest["error"] == []
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [
        ("Patient", 2),
        ("Observation", 4),
    ]
    assert all(o["url"].startswith(f"{BASE}/$export-file/") for o in manifest["output"])


def test_files_hold_one_stored_resource_per_line_of_the_files_type(world, api):
    manifest = api.manifest("/$export")

    for item in manifest["output"]:
        docs = api.lines(item["url"])
        assert len(docs) == item["count"]
        assert {doc["resourceType"] for doc in docs} == {item["type"]}
    assert api.exported(manifest) == [
        "Group/g1",
        "Observation/a0",
        "Observation/a1",
        "Observation/a2",
        "Observation/b0",
        "Patient/ann",
        "Patient/bob",
        "Practitioner/doc",
    ]


def test_lines_are_the_stored_text_verbatim(world, api, fhir):
    manifest = api.manifest("/$export?_type=Patient")
    url = manifest["output"][0]["url"].removeprefix(BASE)
    text = b"".join(fhir.get(url).streaming_content)

    stored = fhir.get("/Patient/ann").content
    assert stored in text.split(b"\n")


def test_since_keeps_only_resources_updated_later(world, api):
    later = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # an instant, in ms
    time.sleep(0.002)  # lastUpdated is kept to the millisecond
    observation(subject="Patient/ann", logical_id="late")

    manifest = api.manifest(f"/$export?_since={later}")

    assert api.exported(manifest) == ["Observation/late"]


def test_type_filter_narrows_a_type_by_a_search(world, api):
    manifest = api.manifest(
        "/$export?_type=Observation,Patient&_typeFilter=Observation%3Fcode%3D29463-7"
    )

    assert api.exported(manifest) == ["Observation/b0", "Patient/ann", "Patient/bob"]


def test_large_types_are_split_into_several_files(world, api):
    for n in range(30):
        put({"resourceType": "Basic", "code": {"text": "x" * 40_000}}, logical_id=f"big{n}")

    manifest = api.manifest("/$export?_type=Basic")

    assert len(manifest["output"]) > 1
    assert sum(o["count"] for o in manifest["output"]) == 30
    assert len(set(api.exported(manifest))) == 30


def test_patient_level_export_holds_compartments_only(world, api):
    manifest = api.manifest("/Patient/$export")

    assert "Practitioner/doc" not in api.exported(manifest)
    assert "Observation/a0" in api.exported(manifest)


def test_group_export_holds_its_members_compartments(world, api):
    manifest = api.manifest("/Group/g1/$export")

    # The Group is in its member's compartment too (Group.member.entity).
    assert api.exported(manifest) == ["Group/g1", "Observation/b0", "Patient/bob"]


def test_post_kickoff_takes_a_parameters_resource(world, api):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Observation"},
            {"name": "patient", "valueReference": {"reference": "Patient/ann"}},
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
        ],
    }
    response = api.kickoff("/Patient/$export", method="POST", body=body)
    manifest = api.status(response).json()

    assert api.exported(manifest) == ["Observation/a0", "Observation/a1", "Observation/a2"]


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/$export", {"Prefer": ""}, 400),
        ("/$export?_outputFormat=text/csv", {}, 400),
        ("/$export?_type=Nope", {}, 400),
        ("/$export?_since=yesterday", {}, 400),
        ("/$export?_typeFilter=Observation%3Fnope%3D1", {}, 400),
        ("/$export?_typeFilter=garbage", {}, 400),
        ("/$export?includeAssociatedData=LatestProvenanceResources", {}, 400),
        ("/$export?_elements=id", {}, 400),
        ("/Patient/$export?patient=Patient/ann", {}, 400),
        ("/Group/missing/$export", {}, 404),
    ],
)
def test_bad_kickoffs_are_refused_with_an_operation_outcome(world, api, path, headers, status):
    response = api.kickoff(path, **headers)

    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert ExportJob.objects.count() == 0


def test_output_format_aliases_are_accepted(world, api):
    for value in ("application/fhir%2Bndjson", "application/ndjson", "ndjson"):
        assert api.kickoff(f"/$export?_outputFormat={value}").status_code == 202


def test_lenient_handling_reports_unsupported_parameters_in_error_files(world, api):
    manifest = api.manifest(
        "/$export?_type=Patient&includeAssociatedData=LatestProvenanceResources",
        Prefer="respond-async, handling=lenient",
    )

    assert len(manifest["error"]) == 1
    outcomes = api.lines(manifest["error"][0]["url"])
    assert outcomes[0]["resourceType"] == "OperationOutcome"
    assert "includeAssociatedData" in outcomes[0]["issue"][0]["diagnostics"]
    assert api.exported(manifest) == ["Patient/ann", "Patient/bob"]


def test_a_running_job_answers_202_with_progress(world, fhir):
    # Kicked off without running the job (its on-commit dispatch is not executed).
    response = fhir.get("/$export", **ASYNC)

    polled = fhir.get(status_path(response))

    assert polled.status_code == 202
    assert polled["X-Progress"] == "queued"
    assert polled["Retry-After"] == "2"


def test_delete_cancels_a_job_then_status_is_404(world, fhir):
    response = fhir.get("/$export", **ASYNC)

    assert fhir.delete(status_path(response)).status_code == 202
    assert fhir.get(status_path(response)).status_code == 404
    assert ExportJob.objects.count() == 0


def test_delete_of_a_finished_job_removes_its_files(world, api, fhir, tmp_path):
    response = api.kickoff("/$export")
    manifest = api.status(response).json()

    assert fhir.delete(status_path(response)).status_code == 202
    url = manifest["output"][0]["url"].removeprefix(BASE)
    assert fhir.get(url).status_code == 404
    assert list((tmp_path / "exports").glob("*/*.ndjson")) == []


def test_expired_jobs_answer_404_and_lose_their_files(world, api, fhir, tmp_path):
    response = api.kickoff("/$export")
    manifest = api.status(response).json()
    ExportJob.objects.update(expires=timezone.now() - timedelta(seconds=1))

    url = manifest["output"][0]["url"].removeprefix(BASE)
    assert fhir.get(url).status_code == 404
    assert fhir.get(status_path(response)).status_code == 404
    assert list((tmp_path / "exports").glob("*/*.ndjson")) == []


def test_another_clients_job_is_404(world, api, client):
    response = api.kickoff("/$export")
    manifest = api.status(response).json()
    other = system_token_issue(client_name="someone-else", scope="system/*.*")
    headers = {"Authorization": f"Bearer {other}"}

    assert client.get(f"/fhir{status_path(response)}", headers=headers).status_code == 404
    file_path = manifest["output"][0]["url"].removeprefix(BASE)
    assert client.get(f"/fhir{file_path}", headers=headers).status_code == 404
    assert client.delete(f"/fhir{status_path(response)}", headers=headers).status_code == 404
    assert ExportJob.objects.count() == 1


def test_files_need_a_token(world, api, settings):
    manifest = api.manifest("/$export")
    settings.FHIR_STORE = {**settings.FHIR_STORE, "OPEN_ACCESS_IN_DEBUG": False}

    url = manifest["output"][0]["url"].removeprefix(BASE)
    assert Client().get(f"/fhir{url}").status_code == 401


def test_a_patient_exports_only_their_own_compartment(world, django_capture_on_commit_callbacks):
    user = personas.login("ann-login", kind="patient", fhir_id="ann")
    bearer = personas.token(user, "patient/*.rs", patient_id="ann")
    me = personas.Fhir(bearer)

    assert me.send("GET", "/$export", Prefer="respond-async").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = me.send("GET", "/Patient/$export", Prefer="respond-async")
    manifest = me.get(status_path(response)).json()
    exported = sorted(
        f"{doc['resourceType']}/{doc['id']}"
        for item in manifest["output"]
        for doc in map(
            json.loads, personas.content(me.get(item["url"].removeprefix(BASE))).splitlines()
        )
    )

    assert exported == ["Observation/a0", "Observation/a1", "Observation/a2", "Patient/ann"]


def test_a_patient_cannot_export_another_patients_group(world, django_capture_on_commit_callbacks):
    user = personas.login("ann-login", kind="patient", fhir_id="ann")
    me = personas.Fhir(personas.token(user, "patient/*.rs", patient_id="ann"))

    response = me.send("GET", "/Group/g1/$export", Prefer="respond-async")

    assert response.status_code in (403, 404)
    assert ExportJob.objects.count() == 0


def test_kickoff_and_completion_are_audited(world, api):
    before = AuditRecord.objects.count()

    api.manifest("/$export?_type=Patient")

    interactions = list(
        AuditRecord.objects.order_by("id").values_list("interaction", "action")[before:]
    )
    assert ("operation", "E") in interactions
    assert len(interactions) >= 2


def test_capability_statement_lists_the_export_operations(db, fhir):
    names = {op["name"] for op in fhir.get("/metadata").json()["rest"][0]["operation"]}

    assert {"export", "patient-export", "group-export"} <= names
