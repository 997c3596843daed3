"""`GET /api/v1/me/access-log`: who looked at my record, in plain words; reading it is logged."""

from typing import Any

import pytest
from django.test import Client

from access.models import AuditRecord
from access.services import system_token_issue
from tests.access.personas import app, login, token


@pytest.fixture
def ada(db: None) -> Any:
    return login("ada", kind="patient", fhir_id="ada")


def _api(bearer: str) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    return client


def test_a_read_by_a_practice_system_appears_as_a_sentence(ada: Any) -> None:
    practice = _api(system_token_issue(client_name="Riverside GP system", scope="system/*.*"))
    body = b'{"resourceType":"Patient","id":"ada"}'
    practice.put("/fhir/Patient/ada", body, content_type="application/fhir+json")
    practice.get("/fhir/Patient/ada")
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))

    entries = _api(mine).get("/api/v1/me/access-log").json()["entries"]

    viewed = [e for e in entries if e["who"] == "Riverside GP system"]
    assert viewed
    assert viewed[0]["sentence"].startswith("Riverside GP system viewed your personal details on ")
    assert viewed[0]["allowed"] is True


def test_reading_the_log_is_itself_logged(ada: Any) -> None:
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))

    _api(mine).get("/api/v1/me/access-log")

    record = AuditRecord.objects.get(patient_id="ada")
    assert record.path == "/api/v1/me/access-log"
    assert record.client_name == "Companion"


def test_another_persons_log_is_forbidden_in_problem_json(ada: Any) -> None:
    login("bob", kind="patient", fhir_id="bob")
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))

    response = _api(mine).get("/api/v1/me/access-log?patient=bob")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert not AuditRecord.objects.filter(patient_id="bob").exists()


def test_refused_access_is_shown_as_refused(ada: Any) -> None:
    other = login("eve", kind="patient", fhir_id="eve")
    eve_token = token(other, "patient/*.rs", patient_id="eve", application=app("Eve app"))
    _api(eve_token).get("/fhir/Observation?patient=ada")
    AuditRecord.objects.create(
        request_id="00000000-0000-0000-0000-000000000001",
        patient_id="ada",
        recorded="2026-05-03T10:00:00Z",
        action="R",
        interaction="read",
        outcome="4",
        status=403,
        method="GET",
        path="/fhir/Observation/o1",
        entity="Observation/o1",
        client_name="Eve app",
    )
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))

    entries = _api(mine).get("/api/v1/me/access-log").json()["entries"]

    refused = [e for e in entries if not e["allowed"]]
    assert refused[0]["sentence"] == (
        "Eve app tried to view your test results and readings on 3 May 2026 at 10:00: refused"
    )


def test_every_app_api_request_is_audited(ada: Any) -> None:
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))

    _api(mine).get("/api/v1/me/apps")

    record = AuditRecord.objects.get(path="/api/v1/me/apps")
    assert record.patient_id == "ada"
    assert record.client_name == "Companion"
