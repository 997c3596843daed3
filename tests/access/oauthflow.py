"""Helpers for the OAuth tests: register a client, create logins, drive the login and consent
forms with Django's test client exactly as a browser would, and exchange codes for tokens."""

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from oauth2_provider.models import get_application_model

from access.models import Account, ClientScope

REDIRECT_URI = "http://app.example/callback"
APP_ORIGIN = "http://app.example"


def fhir_base() -> str:
    return str(settings.FHIR_STORE["PUBLIC_BASE_URL"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_app(*, name: str = "Test app", scope: str = "", origins: str = APP_ORIGIN) -> Any:
    model = get_application_model()
    app = model.objects.create(
        name=name,
        client_type=model.CLIENT_PUBLIC,
        authorization_grant_type=model.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        algorithm=model.RS256_ALGORITHM,
        allowed_origins=origins,
    )
    if scope:
        ClientScope.objects.create(application=app, scope=scope)
    return app


def login_user(
    *, username: str, kind: str = "patient", fhir_id: str = "p1", password: str = "pw-123456"
) -> Any:
    user = get_user_model().objects.create_user(username=username, password=password)
    Account.objects.create(user=user, kind=kind, fhir_id=fhir_id)
    return user


def authorize_params(app: Any, challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
        "state": "st-é/?&1",
        "aud": fhir_base(),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = (
                (value.group(1) if value else "")
                .replace("&amp;", "&")
                .replace("&quot;", '"')
                .replace("&#x27;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
            )
    return fields


def checkbox_values(html: str) -> list[str]:
    return [
        v.replace("&amp;", "&")
        for v in re.findall(r'type="checkbox" name="granted" value="([^"]+)"', html)
    ]


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def consent(
    client: Client,
    params: dict[str, str],
    *,
    untick: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> Any:
    """GET the consent page, then POST it approving every scope but `untick`. The POST response."""
    page = client.get(f"/oauth/authorize?{urlencode(params)}")
    assert page.status_code == 200, page.content[:500]
    html = page.content.decode()
    form: dict[str, Any] = dict(hidden_fields(html))
    form["granted"] = [scope for scope in checkbox_values(html) if scope not in untick]
    form["allow"] = "on"
    form.update(extra or {})
    return client.post(f"/oauth/authorize?{urlencode(params)}", form)


def code_for(client: Client, app: Any, user: Any, **overrides: str) -> tuple[str, str]:
    """Sign `user` in, consent to everything; return (code, verifier)."""
    verifier, challenge = pkce_pair()
    client.force_login(user)
    query = redirect_query(consent(client, authorize_params(app, challenge, **overrides)))
    assert "code" in query, query
    return query["code"], verifier


def exchange(client: Client, app: Any, code: str, verifier: str | None) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": app.client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth/token", data)


def refresh(client: Client, app: Any, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id},
    )
