"""Every FHIR request touching patient data leaves an audit record; people read their own log."""

import pytest

from access.models import AuditRecord
from access.services import system_token_issue


def _client(client, token):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _streamed(response):
    import json

    return json.loads(b"".join(response.streaming_content))


def _post(client, body):
    import json

    return client.post(
        f"/fhir/{body['resourceType']}", json.dumps(body), content_type="application/fhir+json"
    )


def test_read_writes_one_record_naming_client_patient_and_target(client, db):
    fhir = _client(client, system_token_issue(client_name="hospital-feed", scope="system/*.*"))
    patient = _post(fhir, {"resourceType": "Patient", "name": [{"family": "Ng"}]}).json()
    before = AuditRecord.objects.count()

    fhir.get(f"/fhir/Patient/{patient['id']}")

    record = AuditRecord.objects.order_by("-id").first()
    assert AuditRecord.objects.count() == before + 1
    assert record.interaction == "read"
    assert record.action == "R"
    assert record.outcome == "0"
    assert record.client_name == "hospital-feed"
    assert record.patient_id == patient["id"]
    assert record.entity == f"Patient/{patient['id']}"


def test_reading_an_observation_records_its_patient(client, db):
    fhir = _client(client, system_token_issue(client_name="feed", scope="system/*.*"))
    observation = _post(
        fhir,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "weight"},
            "subject": {"reference": "Patient/p-7"},
        },
    ).json()

    fhir.get(f"/fhir/Observation/{observation['id']}")

    assert AuditRecord.objects.order_by("-id").first().patient_id == "p-7"


def test_denied_request_is_recorded_as_a_failure(client, db):
    client.get("/fhir/Patient/p-1", headers={"Authorization": "Bearer not-a-token"})

    record = AuditRecord.objects.get()
    assert record.status == 401
    assert record.outcome == "4"
    assert record.patient_id == "p-1"


def test_tokens_never_reach_the_audit_record(client, db):
    client.get("/fhir/Patient?access_token=secret-value&name=x")

    record = AuditRecord.objects.get()
    assert "secret-value" not in record.query
    assert "name=x" in record.query


def test_a_code_search_is_recorded_with_its_code(client, db):
    """`code` is FHIR's commonest search parameter, not an OAuth authorization code (the OAuth
    endpoints are not audited here): what was searched for belongs in the record."""
    client.get("/fhir/Observation?code=http://loinc.org|8867-4", HTTP_AUTHORIZATION="Bearer x")

    assert AuditRecord.objects.get().query == "code=http://loinc.org|8867-4"


def test_metadata_is_not_audited(client, db):
    client.get("/fhir/metadata")

    assert not AuditRecord.objects.exists()


def test_patient_log_is_searchable_as_fhir_audit_events(client, db):
    fhir = _client(client, system_token_issue(client_name="gp-system", scope="system/*.*"))
    patient = _post(fhir, {"resourceType": "Patient", "name": [{"family": "Ng"}]}).json()
    fhir.get(f"/fhir/Patient/{patient['id']}")

    bundle = fhir.get(f"/fhir/AuditEvent?patient={patient['id']}").json()

    subtypes = [e["resource"]["subtype"][0]["code"] for e in bundle["entry"]]
    assert "read" in subtypes
    assert "create" in subtypes
    event = bundle["entry"][0]["resource"]
    assert any(a["who"].get("display") == "gp-system" for a in event["agent"])


def test_everything_serves_published_events_and_publishes_only_when_asked_for_them(client, db):
    from access.models import AuditWatermark

    fhir = _client(client, system_token_issue(client_name="gp-system", scope="system/*.*"))
    patient = _post(fhir, {"resourceType": "Patient", "name": [{"family": "Ng"}]}).json()
    everything = f"/fhir/Patient/{patient['id']}/$everything"

    plain = _streamed(fhir.get(everything))
    assert not AuditWatermark.objects.exists()  # nothing published inside the request
    asked = _streamed(fhir.get(f"{everything}?_type=Patient,AuditEvent"))

    assert "AuditEvent" not in [e["resource"]["resourceType"] for e in plain["entry"]]
    types = sorted(e["resource"]["resourceType"] for e in asked["entry"])
    assert types == ["AuditEvent", "AuditEvent", "Patient"]  # the create and that first call


def test_publishing_twice_does_not_duplicate_events(client, db):
    from access.audit_publish import audit_publish

    fhir = _client(client, system_token_issue(client_name="feed", scope="system/*.*"))
    _post(fhir, {"resourceType": "Patient"})

    first = audit_publish()
    second = audit_publish()

    assert first == 1
    assert second == 0
    assert fhir.get("/fhir/AuditEvent?_summary=count").json()["total"] == 1


def test_audit_events_cannot_be_changed_or_deleted(client, db):
    from access.audit_publish import audit_publish

    fhir = _client(client, system_token_issue(client_name="feed", scope="system/*.*"))
    _post(fhir, {"resourceType": "Patient"})
    audit_publish()
    event = fhir.get("/fhir/AuditEvent").json()["entry"][0]["resource"]

    deleted = fhir.delete(f"/fhir/AuditEvent/{event['id']}")

    assert deleted.status_code == 403
    assert fhir.get(f"/fhir/AuditEvent/{event['id']}").status_code == 200


def test_publish_task_runs_in_process_when_embedded(client, db):
    from access.tasks import publish_audit_events

    client.get("/fhir/Patient/p-9", headers={"Authorization": "Bearer nope"})

    assert publish_audit_events.delay().get() == 1


@pytest.mark.postgres
def test_audit_records_cannot_be_updated_or_deleted_in_postgresql(client, db):
    from django.db import DatabaseError, transaction

    client.get("/fhir/Patient/p-1", headers={"Authorization": "Bearer nope"})
    record = AuditRecord.objects.get()

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).update(status=200)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).delete()

    assert AuditRecord.objects.get().status == 401
