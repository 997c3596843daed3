"""SMART v2 write letters are honoured one by one: `c` creates, `u` updates, `d` deletes."""

import json

import pytest

from fhirstore.models import Resource
from tests.access.personas import app, login, token


@pytest.fixture
def ada(db):
    return login("ada", kind="patient", fhir_id="ada")


def _api(client, bearer):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    return client


def _observation(**extra):
    doc = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "steps"},
        "subject": {"reference": "Patient/ada"},
    }
    return json.dumps({**doc, **extra})


def test_create_only_scope_creates_but_cannot_update_or_delete(client, ada):
    bearer = token(ada, "patient/Observation.cr", patient_id="ada", application=app("Steps"))
    fhir = _api(client, bearer)

    created = fhir.post("/fhir/Observation", _observation(), content_type="application/fhir+json")
    logical_id = created.json()["id"]
    updated = fhir.put(
        f"/fhir/Observation/{logical_id}",
        _observation(id=logical_id, status="amended"),
        content_type="application/fhir+json",
    )
    deleted = fhir.delete(f"/fhir/Observation/{logical_id}")

    assert created.status_code == 201
    assert updated.status_code == 403
    assert deleted.status_code == 403
    assert Resource.objects.get(logical_id=logical_id).version == 1


def test_update_only_scope_cannot_create(client, ada):
    bearer = token(ada, "patient/Observation.u", patient_id="ada", application=app("Fixer"))

    response = _api(client, bearer).post(
        "/fhir/Observation", _observation(), content_type="application/fhir+json"
    )

    assert response.status_code == 403
    assert not Resource.objects.filter(resource_type="Observation").exists()


def test_v1_write_still_allows_every_write(client, ada):
    bearer = token(ada, "patient/Observation.write", patient_id="ada", application=app("Old"))
    fhir = _api(client, bearer)

    created = fhir.post("/fhir/Observation", _observation(), content_type="application/fhir+json")
    deleted = fhir.delete(f"/fhir/Observation/{created.json()['id']}")

    assert created.status_code == 201
    assert deleted.status_code == 200
