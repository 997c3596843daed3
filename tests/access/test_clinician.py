"""Clinicians (`user/` scopes) see the patients they have a care relationship with: an active
CareTeam naming them, one of their PractitionerRoles or those roles' Organizations, or an
operator-granted organisation-wide role. No relationship, no access."""

from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command

from access.selectors import clinician_patients, patients_user_may_act_for
from tests.access.personas import Fhir, entries, login, put, token


def _patient(pid: str, **extra: Any) -> None:
    put({"resourceType": "Patient", "id": pid, **extra})
    put(
        {
            "resourceType": "Observation",
            "id": f"{pid}-obs",
            "status": "final",
            "code": {"text": "pulse"},
            "subject": {"reference": f"Patient/{pid}"},
        }
    )


def _team(tid: str, patient: str, member: str, status: str = "active") -> None:
    put(
        {
            "resourceType": "CareTeam",
            "id": tid,
            "status": status,
            "subject": {"reference": f"Patient/{patient}"},
            "participant": [{"member": {"reference": member}}],
        }
    )


@pytest.fixture
def world(db: None) -> None:
    cache.clear()
    put({"resourceType": "Organization", "id": "riverside", "name": "Riverside Practice"})
    put({"resourceType": "Organization", "id": "hilltop", "name": "Hilltop Surgery"})
    for pid in ("amy", "ben", "cat", "dan", "eve"):
        _patient(pid)
    _patient("fay", managingOrganization={"reference": "Organization/hilltop"})
    _patient("gus", generalPractitioner=[{"reference": "Organization/hilltop"}])
    put({"resourceType": "Practitioner", "id": "khan"})
    put({"resourceType": "Practitioner", "id": "lee"})
    put(
        {
            "resourceType": "PractitionerRole",
            "id": "lee-at-riverside",
            "practitioner": {"reference": "Practitioner/lee"},
            "organization": {"reference": "Organization/riverside"},
        }
    )
    _team("t-amy", "amy", "Practitioner/khan")
    _team("t-ben", "ben", "Practitioner/khan", status="inactive")
    _team("t-cat", "cat", "PractitionerRole/lee-at-riverside")
    _team("t-dan", "dan", "Organization/riverside")


def test_care_relationships_through_teams_roles_and_organisations(
    world: None, django_assert_num_queries: Any
) -> None:
    user = login("lee", kind="practitioner", fhir_id="lee")
    # Roles and their organisations, the care teams, the operator-granted roles (none here).
    with django_assert_num_queries(3):
        found = clinician_patients(user_id=user.pk, practitioner_id="lee")
    assert found == {"cat", "dan"}
    assert clinician_patients(user_id=user.pk, practitioner_id="khan") == {"amy"}


def test_an_inactive_care_team_gives_no_access(world: None) -> None:
    user = login("khan", kind="practitioner", fhir_id="khan")
    fhir = Fhir(token(user, "user/*.rs"))
    assert fhir.get("/Patient/amy").status_code == 200
    assert fhir.get("/Patient/ben").status_code == 404
    assert fhir.get("/Observation/ben-obs").status_code == 404


def test_clinician_searches_only_their_patients(world: None) -> None:
    user = login("lee", kind="practitioner", fhir_id="lee")
    fhir = Fhir(token(user, "user/Observation.rs user/Patient.rs"))
    response = fhir.get("/Observation?_total=accurate")
    assert sorted(entries(response)) == ["Observation/cat-obs", "Observation/dan-obs"]
    assert response.json()["total"] == 2


def test_no_relationship_means_no_access(world: None) -> None:
    user = login("stranger", kind="practitioner", fhir_id="nobody")
    fhir = Fhir(token(user, "user/*.rs"))
    assert entries(fhir.get("/Observation")) == []
    assert fhir.get("/Patient/amy").status_code == 404
    assert fhir.get("/Organization/riverside").status_code == 200  # the shared directory


def test_an_organisation_role_covers_that_organisations_patients(world: None) -> None:
    user = login("duty", kind="practitioner", fhir_id="nobody")
    call_command("grant_org_role", "--username", "duty", "--organization", "hilltop")
    assert patients_user_may_act_for(user) == ["fay", "gus"]
    fhir = Fhir(token(user, "user/*.rs"))
    assert sorted(entries(fhir.get("/Patient"))) == ["Patient/fay", "Patient/gus"]
    call_command("grant_org_role", "--username", "duty", "--organization", "hilltop", "--revoke")
    assert patients_user_may_act_for(user) == []


def test_granting_a_role_at_an_unknown_organisation_fails(world: None) -> None:
    from django.core.management.base import CommandError

    login("duty", kind="practitioner", fhir_id="nobody")
    with pytest.raises(CommandError):
        call_command("grant_org_role", "--username", "duty", "--organization", "nowhere")


def test_patient_scopes_need_the_launch_patient_to_be_in_the_care_set(world: None) -> None:
    user = login("khan", kind="practitioner", fhir_id="khan")
    in_care = Fhir(token(user, "launch patient/*.rs", patient_id="amy"))
    assert in_care.get("/Observation/amy-obs").status_code == 200
    outside = Fhir(token(user, "launch patient/*.rs", patient_id="eve"))
    assert outside.get("/Observation/eve-obs").status_code == 404
    assert entries(outside.get("/Observation")) == []


def test_clinician_writes_only_within_their_patients(world: None) -> None:
    user = login("khan", kind="practitioner", fhir_id="khan")
    fhir = Fhir(token(user, "user/Observation.cruds"))
    doc = {"resourceType": "Observation", "status": "final", "code": {"text": "note"}}
    mine = fhir.send("POST", "/Observation", {**doc, "subject": {"reference": "Patient/amy"}})
    assert mine.status_code == 201
    other = fhir.send("POST", "/Observation", {**doc, "subject": {"reference": "Patient/eve"}})
    assert other.status_code == 403
