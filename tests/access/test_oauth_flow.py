"""The authorization code flow with PKCE through the login and consent forms (SMART App Launch)."""

from datetime import timedelta

import jwt
import pytest
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from access.models import TokenContext
from tests.access.oauthflow import (
    authorize_params,
    code_for,
    consent,
    exchange,
    fhir_base,
    login_user,
    pkce_pair,
    public_app,
    redirect_query,
    refresh,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def app():
    return public_app()


@pytest.fixture
def patient_user():
    return login_user(username="ada", fhir_id="pat-1")


def test_standalone_patient_launch_returns_patient_context_and_granted_scope(
    client, app, patient_user
):
    code, verifier = code_for(client, app, patient_user)

    response = exchange(client, app, code, verifier)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["patient"] == "pat-1"
    assert body["need_patient_banner"] is True
    assert set(body["scope"].split()) == {
        "launch/patient",
        "openid",
        "fhirUser",
        "offline_access",
        "patient/*.rs",
    }
    assert body["refresh_token"]
    assert body["expires_in"] > 0
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    context = TokenContext.objects.get(access_token__token=body["access_token"])
    assert (context.patient_id, context.fhir_user) == ("pat-1", "Patient/pat-1")


def test_id_token_is_rs256_with_fhir_user_claim_verifiable_from_jwks(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    body = exchange(client, app, code, verifier).json()

    jwks = client.get("/oauth/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(body["id_token"], key=key, algorithms=["RS256"], audience=app.client_id)

    assert claims["fhirUser"] == f"{fhir_base()}/Patient/pat-1"


def test_state_is_returned_unchanged(client, app, patient_user):
    verifier, challenge = pkce_pair()
    client.force_login(patient_user)
    params = authorize_params(app, challenge, state="a b&c=d/é")

    query = redirect_query(consent(client, params))

    assert query["state"] == "a b&c=d/é"


def test_unticked_scopes_are_not_granted(client, app, patient_user):
    verifier, challenge = pkce_pair()
    client.force_login(patient_user)
    params = authorize_params(app, challenge)
    query = redirect_query(consent(client, params, untick=("offline_access", "openid")))

    body = exchange(client, app, query["code"], verifier).json()

    assert "offline_access" not in body["scope"].split()
    assert "refresh_token" not in body
    assert "id_token" not in body


def test_consent_page_lists_scopes_in_plain_words_with_strict_csp(client, app, patient_user):
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    from urllib.parse import urlencode

    page = client.get(f"/oauth/authorize?{urlencode(authorize_params(app, challenge))}")

    html = page.content.decode()
    assert "Read and search your health records of every kind" in html
    assert app.name in html
    csp = page["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http://app.example" in csp  # form-action must allow the redirect after approval


def test_deny_redirects_with_access_denied_and_no_code(client, app, patient_user):
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    params = authorize_params(app, challenge)
    from urllib.parse import urlencode

    from tests.access.oauthflow import hidden_fields

    page = client.get(f"/oauth/authorize?{urlencode(params)}")
    query = redirect_query(
        client.post(f"/oauth/authorize?{urlencode(params)}", hidden_fields(page.content.decode()))
    )

    assert query["error"] == "access_denied"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"code_challenge_method": "plain"}, "not supported"),
        ({"code_challenge_method": None}, "not supported"),
        ({"code_challenge": None, "code_challenge_method": None}, "challenge"),
        ({"code_challenge": ""}, "code_challenge"),
    ],
    ids=["plain", "method-missing", "challenge-missing", "challenge-blank"],
)
def test_authorize_without_an_s256_challenge_issues_no_code(
    client, app, patient_user, overrides, description
):
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    from urllib.parse import urlencode

    response = client.get(
        f"/oauth/authorize?{urlencode(authorize_params(app, challenge, **overrides))}"
    )

    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert "code" not in query
    assert description.lower() in query.get("error_description", "").lower()


@pytest.mark.parametrize(
    "verifier", [None, "", "wrong-verifier-" + "x" * 40], ids=["missing", "blank", "wrong"]
)
def test_token_request_without_the_right_verifier_is_refused(client, app, patient_user, verifier):
    code, _ = code_for(client, app, patient_user)

    response = exchange(client, app, code, verifier)

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("aud", ["http://evil.example/fhir", "", None])
def test_wrong_or_missing_aud_issues_no_code(client, app, patient_user, aud):
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    from urllib.parse import urlencode

    query = redirect_query(
        client.get(f"/oauth/authorize?{urlencode(authorize_params(app, challenge, aud=aud))}")
    )

    assert query["error"] == "invalid_request"

    assert "aud" in query["error_description"]
    assert not Grant.objects.exists()


def test_aud_tampered_in_the_consent_form_issues_no_code(client, app, patient_user):
    _, challenge = pkce_pair()
    client.force_login(patient_user)

    query = redirect_query(
        consent(client, authorize_params(app, challenge), extra={"aud": "http://evil.example/fhir"})
    )

    assert query["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_a_code_works_once(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    assert exchange(client, app, code, verifier).status_code == 200

    again = exchange(client, app, code, verifier)

    assert again.status_code == 400

    assert again.json()["error"] == "invalid_grant"


def test_reusing_a_code_revokes_the_tokens_it_was_exchanged_for(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    first = exchange(client, app, code, verifier).json()

    assert exchange(client, app, code, verifier).status_code == 400

    assert not AccessToken.objects.filter(token=first["access_token"]).exists()
    assert refresh(client, app, first["refresh_token"]).status_code == 400


def test_an_expired_code_is_refused(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = exchange(client, app, code, verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_client_gets_an_error_page_not_a_consent_form(client, patient_user):
    client.force_login(patient_user)

    response = client.get("/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=x")

    assert response.status_code == 400
    assert 'name="allow"' not in response.content.decode()


def test_another_clients_code_is_refused(client, app, patient_user):
    other = public_app(name="Other app")
    code, verifier = code_for(client, app, patient_user)

    response = exchange(client, other, code, verifier)

    assert response.status_code == 400

    assert response.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_keeps_the_launch_context(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    first = exchange(client, app, code, verifier).json()

    second = refresh(client, app, first["refresh_token"])

    assert second.status_code == 200, second.content
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["patient"] == "pat-1"
    assert TokenContext.objects.get(access_token__token=body["access_token"]).patient_id == "pat-1"
    assert not AccessToken.objects.filter(token=first["access_token"]).exists()


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    first = exchange(client, app, code, verifier).json()
    second = refresh(client, app, first["refresh_token"]).json()

    reuse = refresh(client, app, first["refresh_token"])

    assert reuse.status_code == 400

    assert reuse.json()["error"] == "invalid_grant"
    assert refresh(client, app, second["refresh_token"]).status_code == 400
    assert not AccessToken.objects.filter(token=second["access_token"]).exists()
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 0


def test_another_clients_refresh_token_is_refused(client, app, patient_user):
    code, verifier = code_for(client, app, patient_user)
    first = exchange(client, app, code, verifier).json()

    response = refresh(client, public_app(name="Other"), first["refresh_token"])

    assert response.status_code == 400
    assert AccessToken.objects.filter(token=first["access_token"]).exists()


def test_scope_outside_the_registration_is_refused(client, patient_user):
    app = public_app(scope="launch/patient openid fhirUser patient/Observation.rs")
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    from urllib.parse import urlencode

    params = authorize_params(app, challenge, scope="launch/patient patient/Condition.rs")
    query = redirect_query(client.get(f"/oauth/authorize?{urlencode(params)}"))

    assert query["error"] == "invalid_scope"


def test_system_scopes_are_refused_to_interactive_apps(client, app, patient_user):
    _, challenge = pkce_pair()
    client.force_login(patient_user)
    from urllib.parse import urlencode

    query = redirect_query(
        client.get(
            f"/oauth/authorize?{urlencode(authorize_params(app, challenge, scope='system/*.rs'))}"
        )
    )

    assert query["error"] == "invalid_scope"


def test_unauthenticated_authorize_redirects_to_the_login_form(client, app):
    _, challenge = pkce_pair()
    from urllib.parse import urlencode

    response = client.get(f"/oauth/authorize?{urlencode(authorize_params(app, challenge))}")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
