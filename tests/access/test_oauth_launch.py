"""EHR launch (`POST /oauth/launch` + the `launch` scope) and the standalone patient picker."""

from urllib.parse import urlencode

import pytest
from django.core.cache import cache

from access.models import TokenContext
from access.services import proxy_consent_record
from tests.access.oauthflow import (
    authorize_params,
    consent,
    exchange,
    hidden_fields,
    login_user,
    pkce_pair,
    public_app,
    redirect_query,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def clinician():
    return login_user(username="dr-khan", kind="practitioner", fhir_id="prac-1")


def _launch_id(client, user, patient="pat-7", encounter="enc-3"):
    client.force_login(user)
    page = client.get("/accounts/login/")  # any page sets the CSRF cookie
    token = (
        client.cookies["csrftoken"].value
        if "csrftoken" in client.cookies
        else hidden_fields(page.content.decode())["csrfmiddlewaretoken"]
    )
    return client.post(
        "/oauth/launch", {"patient": patient, "encounter": encounter}, HTTP_X_CSRFTOKEN=token
    )


def test_ehr_launch_binds_patient_and_encounter_to_the_token(client, clinician):
    app = public_app()
    launch = _launch_id(client, clinician).json()["launch"]
    verifier, challenge = pkce_pair()
    params = authorize_params(
        app, challenge, scope="launch openid fhirUser user/*.rs patient/*.rs", launch=launch
    )

    query = redirect_query(consent(client, params))
    body = exchange(client, app, query["code"], verifier).json()

    assert body["patient"] == "pat-7"
    assert body["encounter"] == "enc-3"
    context = TokenContext.objects.get(access_token__token=body["access_token"])
    assert (context.patient_id, context.encounter_id, context.fhir_user) == (
        "pat-7",
        "enc-3",
        "Practitioner/prac-1",
    )


def test_unknown_launch_issues_no_code(client, clinician):
    app = public_app()
    client.force_login(clinician)
    _, challenge = pkce_pair()
    params = authorize_params(app, challenge, scope="launch user/*.rs", launch="made-up")

    query = redirect_query(client.get(f"/oauth/authorize?{urlencode(params)}"))

    assert query["error"] == "invalid_request"
    assert "launch" in query["error_description"]


def test_a_patient_login_cannot_create_a_launch(client):
    patient = login_user(username="ada", fhir_id="pat-1")

    response = _launch_id(client, patient, patient="pat-2")

    assert response.status_code == 403


def test_launch_without_session_or_token_is_401(client):
    response = client.post("/oauth/launch", {"patient": "pat-1"})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_session_launch_without_csrf_token_is_refused(client, clinician):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clinician)

    assert strict.post("/oauth/launch", {"patient": "pat-1"}).status_code == 403


def test_launch_with_a_clinicians_bearer_token(client, clinician):
    app = public_app()
    launch = _launch_id(client, clinician).json()["launch"]
    verifier, challenge = pkce_pair()
    query = redirect_query(
        consent(client, authorize_params(app, challenge, scope="launch user/*.rs", launch=launch))
    )
    token = exchange(client, app, query["code"], verifier).json()["access_token"]
    client.logout()

    response = client.post(
        "/oauth/launch",
        {"patient": "pat-9"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert response.json()["launch"]


def test_carer_acting_for_two_people_picks_one(client):
    carer = login_user(username="carer", kind="related-person", fhir_id="rp-1")
    proxy_consent_record(patient_id="pat-a", related_person_id="rp-1")
    proxy_consent_record(patient_id="pat-b", related_person_id="rp-1")
    app = public_app()
    verifier, challenge = pkce_pair()
    client.force_login(carer)
    params = authorize_params(app, challenge)

    page = client.get(f"/oauth/authorize?{urlencode(params)}").content.decode()
    assert 'value="pat-a"' in page
    assert 'value="pat-b"' in page
    query = redirect_query(consent(client, params, extra={"patient": "pat-b"}))

    assert exchange(client, app, query["code"], verifier).json()["patient"] == "pat-b"


def test_carer_cannot_pick_someone_they_may_not_act_for(client):
    carer = login_user(username="carer", kind="related-person", fhir_id="rp-1")
    proxy_consent_record(patient_id="pat-a", related_person_id="rp-1")
    proxy_consent_record(patient_id="pat-b", related_person_id="rp-1")
    app = public_app()
    _, challenge = pkce_pair()
    client.force_login(carer)

    query = redirect_query(
        consent(client, authorize_params(app, challenge), extra={"patient": "pat-zzz"})
    )

    assert query["error"] == "invalid_request"


def test_login_without_a_record_gets_no_patient_scoped_code(client):
    staff = login_user(username="ops", kind="staff", fhir_id="")
    app = public_app()
    _, challenge = pkce_pair()
    client.force_login(staff)

    query = redirect_query(
        client.get(f"/oauth/authorize?{urlencode(authorize_params(app, challenge))}")
    )

    assert query["error"] == "invalid_request"
