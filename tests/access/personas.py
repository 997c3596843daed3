"""Personas and data for the access tests: logins linked to FHIR identities, bearer tokens as the
OAuth server would issue them (with launch context), and a small FHIR client over Django's test
client. Resources are written through the real repository (validation, compartments, index)."""

import json
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from access.models import Account, TokenContext
from fhirstore.context import SYSTEM
from fhirstore.repository import Repository

FHIR_JSON = "application/fhir+json"
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def put(doc: dict[str, Any]) -> str:
    """Store `doc` under its own id with system access; return "Type/id"."""
    repo = Repository(scope=SYSTEM)
    repo.update(resource_type=doc["resourceType"], logical_id=doc["id"], doc=doc)
    return f"{doc['resourceType']}/{doc['id']}"


def app(name: str = "companion") -> Any:
    model = get_application_model()
    found, _ = model.objects.get_or_create(
        name=name,
        defaults={
            "client_type": model.CLIENT_PUBLIC,
            "authorization_grant_type": model.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "https://app.example/cb",
        },
    )
    return found


def login(username: str, *, kind: str = "", fhir_id: str = "") -> Any:
    """A Django user with (when `kind` is given) an Account linked to a FHIR identity."""
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    if kind:
        Account.objects.create(user=user, kind=kind, fhir_id=fhir_id)
    return user


def token(
    user: Any,
    scope: str,
    *,
    patient_id: str = "",
    application: Any = None,
    lifetime: timedelta = timedelta(hours=1),
) -> str:
    """A bearer token for `user` with `scope` and launch patient `patient_id`."""
    text = secrets.token_urlsafe(24)
    access = get_access_token_model().objects.create(
        user=user,
        application=application or app(),
        token=text,
        scope=scope,
        expires=timezone.now() + lifetime,
    )
    TokenContext.objects.create(access_token=access, patient_id=patient_id)
    return text


def refresh_token_add(text: str) -> str:
    """Give access token `text` a refresh token (as an offline_access grant has); its value."""
    access = get_access_token_model().objects.get(token=text)
    get_refresh_token_model().objects.create(
        user=access.user, application=access.application, token=f"r-{text}", access_token=access
    )
    return f"r-{text}"


def token_revoke(text: str) -> None:
    """Revoke access token `text` as the OAuth server does: its row goes."""
    get_access_token_model().objects.filter(token=text).delete()


def token_live(text: str) -> bool:
    return get_access_token_model().objects.filter(token=text).exists()


def refresh_revoked(text: str) -> bool:
    return get_refresh_token_model().objects.get(token=text).revoked is not None


class Fhir:
    """JSON over /fhir with one bearer token."""

    def __init__(self, bearer: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    def get(self, path: str) -> Any:
        return self.client.get(f"/fhir{path}", headers=self.headers)

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        content_type = headers.pop("content_type", FHIR_JSON)
        return self.client.generic(
            method,
            f"/fhir{path}",
            json.dumps(body) if body is not None else "",
            content_type=content_type,
            headers={**self.headers, **headers},
        )


def content(response: Any) -> bytes:
    """The body, whether streamed or not."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


def body_of(response: Any) -> Any:
    """The JSON body, read once and kept (a streamed body can be read only once)."""
    if not hasattr(response, "_kept_json"):
        response._kept_json = json.loads(content(response))
    return response._kept_json


def entries(response: Any) -> list[str]:
    """ "Type/id" of each entry of a Bundle response."""
    body = body_of(response)
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in body.get("entry", [])
        if "resource" in e
    ]
