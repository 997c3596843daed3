"""Introspection, revocation, expiry, discovery, CORS, rate limits and the login form."""

import base64
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from tests.access.oauthflow import APP_ORIGIN, code_for, exchange, login_user, public_app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def app():
    return public_app()


@pytest.fixture
def tokens(client, app):
    user = login_user(username="ada", fhir_id="pat-1")
    code, verifier = code_for(client, app, user)
    return exchange(client, app, code, verifier).json()


@pytest.fixture
def resource_server():
    model = get_application_model()
    server = model(
        name="Resource server",
        client_type=model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=model.GRANT_CLIENT_CREDENTIALS,
        client_secret="rs-secret-123",
    )
    server.save()
    credentials = base64.b64encode(f"{server.client_id}:rs-secret-123".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def test_introspection_reports_an_active_token_with_smart_context(
    client, tokens, resource_server, app
):
    response = client.post(
        "/oauth/introspect", {"token": tokens["access_token"]}, headers=resource_server
    )

    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == app.client_id
    assert body["patient"] == "pat-1"
    assert body["fhirUser"].endswith("/Patient/pat-1")
    assert set(body["scope"].split()) >= {"patient/*.rs"}


def test_introspection_needs_an_authenticated_caller(client, tokens):
    response = client.post("/oauth/introspect", {"token": tokens["access_token"]})

    assert response.status_code == 401
    assert "active" not in response.json()


def test_introspection_of_an_expired_token_is_inactive(client, tokens, resource_server):
    AccessToken.objects.filter(token=tokens["access_token"]).update(
        expires=timezone.now() - timedelta(seconds=1)
    )

    body = client.post(
        "/oauth/introspect", {"token": tokens["access_token"]}, headers=resource_server
    ).json()

    assert body == {"active": False}


def test_expired_token_is_refused_by_the_fhir_api(client, tokens):
    AccessToken.objects.filter(token=tokens["access_token"]).update(
        expires=timezone.now() - timedelta(seconds=1)
    )

    response = client.get(
        "/fhir/Patient/pat-1", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoking_the_refresh_token_ends_the_access_token_too(client, tokens, resource_server, app):
    response = client.post(
        "/oauth/revoke", {"token": tokens["refresh_token"], "client_id": app.client_id}
    )

    assert response.status_code == 200
    assert not AccessToken.objects.filter(token=tokens["access_token"]).exists()
    assert client.post(
        "/oauth/introspect", {"token": tokens["access_token"]}, headers=resource_server
    ).json() == {"active": False}
    assert (
        client.post(
            "/oauth/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": app.client_id,
            },
        ).status_code
        == 400
    )


def test_revoking_an_access_token(client, tokens, app):
    response = client.post(
        "/oauth/revoke", {"token": tokens["access_token"], "client_id": app.client_id}
    )

    assert response.status_code == 200
    assert not AccessToken.objects.filter(token=tokens["access_token"]).exists()


def test_a_client_cannot_revoke_another_clients_token(client, tokens):
    other = public_app(name="Other app")

    response = client.post(
        "/oauth/revoke", {"token": tokens["access_token"], "client_id": other.client_id}
    )

    assert response.status_code == 200  # RFC 7009: no hint whether the token exists
    assert AccessToken.objects.filter(token=tokens["access_token"]).exists()
    assert RefreshToken.objects.filter(token=tokens["refresh_token"], revoked__isnull=True).exists()


def test_smart_configuration_document(client):
    response = client.get("/fhir/.well-known/smart-configuration")

    assert response.status_code == 200
    doc = response.json()
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint"].endswith("/oauth/token")
    assert doc["authorization_endpoint"].endswith("/oauth/authorize")
    assert doc["management_endpoint"].endswith("/account/apps")
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert {
        "launch-standalone",
        "launch-ehr",
        "permission-v2",
        "context-standalone-patient",
    } <= set(doc["capabilities"])
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(
        doc["grant_types_supported"]
    )
    for key in ("introspection_endpoint", "revocation_endpoint", "jwks_uri", "scopes_supported"):
        assert doc[key]


def test_capability_statement_names_the_same_oauth_endpoints(client):
    doc = client.get("/fhir/.well-known/smart-configuration").json()

    security = client.get("/fhir/metadata").json()["rest"][0]["security"]

    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["authorize"] == doc["authorization_endpoint"]
    assert uris["token"] == doc["token_endpoint"]
    assert uris["manage"] == doc["management_endpoint"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_cors_answers_a_registered_origin_only(client, app):
    allowed = client.get("/fhir/.well-known/smart-configuration", headers={"Origin": APP_ORIGIN})
    stranger = client.get(
        "/fhir/.well-known/smart-configuration", headers={"Origin": "http://evil.example"}
    )

    assert allowed["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Access-Control-Allow-Credentials" not in allowed
    assert "Access-Control-Allow-Origin" not in stranger


def test_cors_preflight_on_the_token_endpoint(client, app):
    response = client.options(
        "/oauth/token", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"}
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]


@override_settings(CORS_TEST=True)
def test_cors_on_fhir_metadata_for_an_operator_origin(client, settings):
    settings.ACCESS = {**settings.ACCESS, "CORS_ALLOWED_ORIGINS": ["https://portal.example"]}

    response = client.get("/fhir/metadata", headers={"Origin": "https://portal.example"})

    assert response["Access-Control-Allow-Origin"] == "https://portal.example"


def test_token_endpoint_is_rate_limited_per_address(client, settings):
    settings.ACCESS = {**settings.ACCESS, "OAUTH_RATE_PER_MINUTE": 3}
    for _ in range(3):
        assert client.post("/oauth/token", {"grant_type": "client_credentials"}).status_code != 429

    limited = client.post("/oauth/token", {"grant_type": "client_credentials"})
    other_address = client.post(
        "/oauth/token", {"grant_type": "client_credentials"}, REMOTE_ADDR="10.0.0.9"
    )

    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["error"] == "temporarily_unavailable"
    assert other_address.status_code != 429


def _login(client, username, password="wrong-password", address="10.1.1.1"):
    page = client.get("/accounts/login/", REMOTE_ADDR=address)
    assert page.status_code == 200
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_login_form_signs_in_and_has_a_strict_csp(client):
    login_user(username="ada", fhir_id="pat-1", password="correct-horse-1")
    page = client.get("/accounts/login/")

    response = client.post(
        "/accounts/login/",
        {"username": "ada", "password": "correct-horse-1", "next": "/oauth/authorize"},
    )

    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert 'name="username"' in page.content.decode()
    assert 'name="password"' in page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == "/oauth/authorize"


def test_failed_logins_are_throttled_and_unknown_usernames_look_the_same(client, settings):
    settings.ACCESS = {**settings.ACCESS, "LOGIN_FAILURES_ALLOWED": 3}
    login_user(username="ada", fhir_id="pat-1", password="correct-horse-1")

    known = [_login(client, "ada", address=f"10.2.0.{i}") for i in range(4)]
    unknown = [_login(client, "nobody-here", address=f"10.3.0.{i}") for i in range(4)]

    assert [r.status_code for r in known] == [200, 200, 200, 429]
    assert [r.status_code for r in unknown] == [200, 200, 200, 429]
    strip = lambda r: r.content.decode().split("csrfmiddlewaretoken")[0]  # noqa: E731
    assert strip(known[0]) == strip(unknown[0])
    assert strip(known[3]) == strip(unknown[3])
    assert known[3]["Retry-After"] == unknown[3]["Retry-After"] or int(known[3]["Retry-After"]) > 0
    # locked even with the right password: the lock does not reveal it either
    assert _login(client, "ada", password="correct-horse-1", address="10.9.9.9").status_code == 429


def test_failed_logins_from_one_address_are_throttled_across_usernames(client, settings):
    settings.ACCESS = {**settings.ACCESS, "LOGIN_FAILURES_ALLOWED": 2}

    statuses = [_login(client, f"user{i}", address="10.4.4.4").status_code for i in range(3)]

    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/oauth/token", {}),
        ("/oauth/token", {"grant_type": "password", "username": "x", "password": "y"}),
        ("/oauth/token", {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"}),
        (
            "/oauth/token",
            {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"},
        ),
        (
            "/oauth/token",
            {
                "grant_type": "client_credentials",
                "client_assertion": "a.b.c",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            },
        ),
        (
            "/oauth/token",
            {
                "grant_type": "client_credentials",
                "client_assertion": "",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            },
        ),
        ("/oauth/revoke", {"token": "x"}),
        ("/oauth/revoke", {"token": "x", "client_id": "nobody"}),
        ("/oauth/introspect", {"token": "x"}),
        ("/oauth/launch", {"patient": ""}),
    ],
)
def test_garbage_to_oauth_endpoints_is_a_client_error(client, path, data):
    response = client.post(path, data, HTTP_AUTHORIZATION="Basic !!!not-base64")

    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "query",
    [
        "",
        "response_type=code",
        "client_id=nobody&response_type=code",
        "response_type=token&client_id=x",
    ],
)
def test_garbage_to_authorize_is_a_client_error(client, query):
    client.force_login(login_user(username="ada", fhir_id="pat-1"))

    response = client.get(f"/oauth/authorize?{query}")

    assert 400 <= response.status_code < 500
