"""`/api/v1/me/proxies`: the person lists, grants and revokes proxy access for their carers; each
grant is a FHIR Consent in their compartment that the carer's next request obeys."""

from typing import Any

import pytest
from django.test import Client

from tests.access.personas import Fhir, login, put, token


@pytest.fixture
def people(db: None) -> dict[str, str]:
    for pid in ("mum", "dad"):
        put({"resourceType": "Patient", "id": pid})
        put(
            {
                "resourceType": "Observation",
                "id": f"{pid}-obs",
                "status": "final",
                "code": {"text": "pulse"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
    put({"resourceType": "RelatedPerson", "id": "kid", "patient": {"reference": "Patient/mum"}})
    put(
        {"resourceType": "RelatedPerson", "id": "dads-kid", "patient": {"reference": "Patient/dad"}}
    )
    mum = login("mum", kind="patient", fhir_id="mum")
    kid = login("kid", kind="related-person", fhir_id="kid")
    return {
        "mum": token(mum, "patient/*.rs", patient_id="mum"),
        "kid": token(kid, "launch/patient patient/*.rs", patient_id="mum"),
    }


def _api(bearer: str) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    return client


def _grant(bearer: str, **body: Any) -> Any:
    return _api(bearer).post("/api/v1/me/proxies", body, content_type="application/json")


def test_grant_list_and_revoke(people: dict[str, str], django_assert_max_num_queries: Any) -> None:
    carer = Fhir(people["kid"])
    assert carer.get("/Observation/mum-obs").status_code == 404
    created = _grant(people["mum"], related_person="RelatedPerson/kid", areas=["Observation"])
    assert created.status_code == 201
    grant = created.json()
    assert grant["areas"] == ["Observation"]
    assert grant["write"] is False
    assert grant["active"] is True
    assert carer.get("/Observation/mum-obs").status_code == 200
    with django_assert_max_num_queries(6):
        listed = _api(people["mum"]).get("/api/v1/me/proxies").json()["proxies"]
    assert [p["id"] for p in listed] == [grant["id"]]
    assert _api(people["mum"]).delete(f"/api/v1/me/proxies/{grant['id']}").status_code == 204
    assert carer.get("/Observation/mum-obs").status_code == 404
    listed = _api(people["mum"]).get("/api/v1/me/proxies").json()["proxies"]
    assert listed[0]["active"] is False


def test_the_consent_is_readable_over_fhir_in_the_persons_compartment(
    people: dict[str, str],
) -> None:
    grant = _grant(people["mum"], related_person="kid", write=True, until="2999-12-31").json()
    consent = Fhir(people["mum"]).get(f"/Consent/{grant['id']}")
    assert consent.status_code == 200
    assert consent.json()["provision"]["period"]["end"] == "2999-12-31"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"related_person": "dads-kid"}, None),  # not one of mum's related people
        ({"related_person": "kid", "areas": ["NotAType"]}, None),
        ({"related_person": "kid", "until": "2001-01-01"}, None),
        ({"related_person": "../etc"}, "related_person"),
        ({"areas": ["Observation"]}, "related_person"),
        ({"related_person": "kid", "until": "tomorrow"}, "until"),
    ],
)
def test_bad_grants_are_problem_400_and_write_nothing(
    people: dict[str, str], body: dict[str, Any], field: str | None
) -> None:
    response = _grant(people["mum"], **body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    if field:
        assert field in response.json()["errors"]
    assert _api(people["mum"]).get("/api/v1/me/proxies").json()["proxies"] == []


def test_only_the_patient_manages_their_proxies(people: dict[str, str]) -> None:
    response = _api(people["kid"]).get("/api/v1/me/proxies")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_revoking_someone_elses_grant_is_404(people: dict[str, str]) -> None:
    dad = login("dad", kind="patient", fhir_id="dad")
    dads = token(dad, "patient/*.rs", patient_id="dad")
    grant = _grant(dads, related_person="dads-kid").json()
    response = _api(people["mum"]).delete(f"/api/v1/me/proxies/{grant['id']}")
    assert response.status_code == 404
    assert _api(dads).get("/api/v1/me/proxies").json()["proxies"][0]["active"] is True
