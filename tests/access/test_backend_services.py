"""SMART Backend Services: client_credentials with a private_key_jwt assertion (RS384, ES384)."""

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache
from oauth2_provider.models import AccessToken, get_application_model

from access.assertions import token_endpoint_url
from access.models import ClientKeys

pytestmark = pytest.mark.django_db
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def _jwk(private_key, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS384" else jwt.algorithms.ECAlgorithm
    public = json.loads(algorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "alg": alg}


@pytest.fixture(params=["RS384", "ES384"])
def backend(request):
    alg = request.param
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    model = get_application_model()
    app = model.objects.create(
        name="Lab system",
        client_type=model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=model.GRANT_CLIENT_CREDENTIALS,
    )
    ClientKeys.objects.create(application=app, jwks={"keys": [_jwk(key, "k1", alg)]})
    return app, key, alg


def _assertion(app, key, alg, **overrides):
    now = int(time.time())
    claims = {
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": token_endpoint_url(),
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None},
        key,
        algorithm=alg,
        headers={"kid": "k1"},
    )


def _token(client, assertion, scope="system/Observation.rs system/Patient.rs"):
    return client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def test_signed_assertion_gets_a_system_token(client, backend):
    app, key, alg = backend

    response = _token(client, _assertion(app, key, alg))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "system/Observation.rs system/Patient.rs"
    assert "refresh_token" not in body
    assert response["Cache-Control"] == "no-store"


def test_a_replayed_jti_is_refused(client, backend):
    app, key, alg = backend
    assertion = _assertion(app, key, alg)
    assert _token(client, assertion).status_code == 200

    replay = _token(client, assertion)

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert AccessToken.objects.count() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 10},
        {"exp": int(time.time()) + 3600},
        {"aud": "http://127.0.0.1:8000/oauth/other"},
        {"sub": "someone-else"},
        {"jti": None},
    ],
    ids=["expired", "exp-too-far-ahead", "wrong-aud", "sub-not-iss", "no-jti"],
)
def test_assertions_breaking_the_rules_are_refused(client, backend, overrides):
    app, key, alg = backend
    overrides = {k: (v if k != "exp" else v) for k, v in overrides.items()}

    response = _token(client, _assertion(app, key, alg, **overrides))

    assert response.status_code == 401
    assert not AccessToken.objects.exists()


def test_alg_none_is_refused(client, backend):
    app, _, _ = backend
    now = int(time.time())
    unsigned = jwt.encode(
        {
            "iss": app.client_id,
            "sub": app.client_id,
            "aud": token_endpoint_url(),
            "exp": now + 60,
            "jti": "n1",
        },
        None,
        algorithm="none",
    )

    assert _token(client, unsigned).status_code == 401
    assert not AccessToken.objects.exists()


def test_hs256_signed_with_the_public_key_is_refused(client, backend):
    app, key, alg = backend
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": app.client_id,
            "sub": app.client_id,
            "aud": token_endpoint_url(),
            "exp": now + 60,
            "jti": "h1",
        },
        "a-shared-secret-guess-that-is-long-enough-1234",
        algorithm="HS256",
    )

    assert _token(client, forged).status_code == 401


def test_assertion_signed_by_another_key_is_refused(client, backend):
    app, _, alg = backend
    stranger = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )

    assert _token(client, _assertion(app, stranger, alg)).status_code == 401


def test_only_system_scopes_are_granted_to_backend_clients(client, backend):
    app, key, alg = backend

    response = _token(client, _assertion(app, key, alg), scope="patient/*.rs")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_unknown_assertion_type_is_refused(client, backend):
    app, key, alg = backend

    response = client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": "urn:other",
            "client_assertion": _assertion(app, key, alg),
        },
    )

    assert response.status_code == 401


def test_backend_token_reads_through_the_fhir_api(client, backend):
    app, key, alg = backend
    token = _token(client, _assertion(app, key, alg), scope="system/Patient.rs").json()[
        "access_token"
    ]

    response = client.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.content
