"""Carers act for a person only within the Consents that person (or an authorised clinician)
granted: record areas, read or write, until when; a revocation applies to the next request."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from access.consent import proxy_rights
from access.proxies import proxy_grant, proxy_revoke
from access.selectors import patients_user_may_act_for
from fhirstore.models import Resource
from tests.access.personas import Fhir, entries, login, put, token

ACTOR = "test"


def _observation(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pulse"},
        "subject": {"reference": f"Patient/{pid}"},
    }


@pytest.fixture
def carer(db: None) -> Any:
    for pid in ("mum", "dad"):
        put({"resourceType": "Patient", "id": pid})
        put({**_observation(pid), "id": f"{pid}-obs"})
        put(
            {
                "resourceType": "Condition",
                "id": f"{pid}-cond",
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
    put({"resourceType": "RelatedPerson", "id": "kid", "patient": {"reference": "Patient/mum"}})
    return login("kid", kind="related-person", fhir_id="kid")


def _grant(**overrides: Any) -> str:
    given: dict[str, Any] = {"areas": [], "write": False, "until": None} | overrides
    return proxy_grant(patient_id="mum", related_person_id="kid", actor=ACTOR, **given).id


def test_without_a_consent_the_carer_sees_nothing(carer: Any) -> None:
    fhir = Fhir(token(carer, "launch/patient patient/*.rs", patient_id="mum"))
    assert fhir.get("/Patient/mum").status_code == 404
    assert entries(fhir.get("/Observation")) == []
    assert patients_user_may_act_for(carer) == []


def test_a_whole_record_read_grant(carer: Any) -> None:
    _grant()
    fhir = Fhir(token(carer, "patient/*.cruds", patient_id="mum"))
    assert fhir.get("/Condition/mum-cond").status_code == 200
    assert entries(fhir.get("/Observation")) == ["Observation/mum-obs"]
    assert fhir.get("/Observation/dad-obs").status_code == 404
    before = Resource.objects.count()
    assert fhir.send("POST", "/Observation", _observation("mum")).status_code == 403
    assert Resource.objects.count() == before
    assert patients_user_may_act_for(carer) == ["mum"]


def test_record_areas_limit_the_types(carer: Any) -> None:
    _grant(areas=["Observation", "Patient"])
    fhir = Fhir(token(carer, "patient/*.rs", patient_id="mum"))
    assert fhir.get("/Observation/mum-obs").status_code == 200
    assert fhir.get("/Condition/mum-cond").status_code == 403


def test_a_write_grant_lets_the_carer_write_but_never_consents(carer: Any) -> None:
    _grant(areas=["Observation", "Consent"], write=True)
    fhir = Fhir(token(carer, "patient/*.cruds", patient_id="mum"))
    assert fhir.send("POST", "/Observation", _observation("mum")).status_code == 201
    consent = Resource.objects.filter(resource_type="Consent").first()
    assert consent is not None
    response = fhir.send("DELETE", f"/Consent/{consent.logical_id}")
    assert response.status_code == 403
    assert not Resource.objects.get(pk=consent.pk).deleted


def test_revocation_applies_to_the_next_request(carer: Any) -> None:
    consent_id = _grant()
    fhir = Fhir(token(carer, "patient/*.rs", patient_id="mum"))
    assert fhir.get("/Observation/mum-obs").status_code == 200
    proxy_revoke(patient_id="mum", consent_id=consent_id, actor=ACTOR)
    assert fhir.get("/Observation/mum-obs").status_code == 404
    assert patients_user_may_act_for(carer) == []


def test_a_grant_ends_when_its_period_ends(carer: Any) -> None:
    _grant(until=timezone.now().date())
    now = timezone.now()
    assert proxy_rights(related_person_id="kid", patient_id="mum", now=now) is not None
    later = now + timedelta(days=2)
    assert proxy_rights(related_person_id="kid", patient_id="mum", now=later) is None


def test_the_token_acts_only_for_its_launch_patient(carer: Any) -> None:
    _grant()
    fhir = Fhir(token(carer, "patient/*.rs", patient_id="dad"))
    assert fhir.get("/Observation/dad-obs").status_code == 404
    assert fhir.get("/Observation/mum-obs").status_code == 404


def _consent(**changes: Any) -> dict[str, Any]:
    codes = "http://terminology.hl7.org/CodeSystem"
    doc: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "c1",
        "status": "active",
        "scope": {"coding": [{"system": f"{codes}/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/mum"},
        "performer": [{"reference": "Patient/mum"}],
        "policyRule": {"coding": [{"system": f"{codes}/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [{"system": f"{codes}/v3-ParticipationType", "code": "PRCP"}]
                    },
                    "reference": {"reference": "RelatedPerson/kid"},
                }
            ],
            "action": [{"coding": [{"system": f"{codes}/consentaction", "code": "access"}]}],
        },
    }
    for key, value in changes.items():
        if key.startswith("provision_"):
            doc["provision"][key.removeprefix("provision_")] = value
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "inactive"},
        {"performer": [{"reference": "RelatedPerson/kid"}]},  # the carer granting themself
        {"scope": {"coding": [{"code": "treatment"}]}},
        {"provision_type": "deny"},
        {"provision_action": []},
        {"provision_period": {"start": "2999-01-01"}},
        {"provision_period": {"end": "2001-01-01"}},
        {"provision_provision": [{"type": "deny"}]},
    ],
)
def test_consents_outside_the_profile_grant_nothing(carer: Any, changes: dict[str, Any]) -> None:
    put(_consent(**changes))
    now = timezone.now()
    assert proxy_rights(related_person_id="kid", patient_id="mum", now=now) is None


def test_a_clinician_may_grant_on_the_persons_behalf(carer: Any) -> None:
    put(_consent(performer=[{"reference": "Practitioner/gp"}]))
    rights = proxy_rights(related_person_id="kid", patient_id="mum", now=timezone.now())
    assert rights is not None
    assert rights.readable == {"*"}


def test_the_person_revokes_over_fhir_too(carer: Any) -> None:
    consent_id = _grant()
    mum = Fhir(
        token(login("mum", kind="patient", fhir_id="mum"), "patient/*.cruds", patient_id="mum")
    )
    kid = Fhir(token(carer, "patient/*.rs", patient_id="mum"))
    assert kid.get("/Observation/mum-obs").status_code == 200
    consent = mum.get(f"/Consent/{consent_id}").json()
    updated = mum.send("PUT", f"/Consent/{consent_id}", {**consent, "status": "inactive"})
    assert updated.status_code == 200
    assert kid.get("/Observation/mum-obs").status_code == 404
