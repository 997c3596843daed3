"""Writes of the access layer: registering clients and issuing tokens for operators and tests.

`system_token_issue` mints a bearer token with `system/` scopes for a confidential client, as an
operator would for a trusted integration or a load test. Interactive and backend-services flows go
through the OAuth endpoints instead. `client_register` and `account_create` back the operator
commands `register_client` and `create_account`.
"""

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from access.models import Account, AccountKind, ClientKeys, ClientScope
from fhirstore.context import SYSTEM
from fhirstore.repository import Repository


def system_token_issue(
    *, client_name: str, scope: str, lifetime: timedelta = timedelta(hours=1)
) -> str:
    """Create (or reuse) a confidential client named `client_name` and return a new access token."""
    application_model = get_application_model()
    application, _ = application_model.objects.get_or_create(
        name=client_name,
        defaults={
            "client_type": application_model.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": application_model.GRANT_CLIENT_CREDENTIALS,
        },
    )
    token = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        application=application, token=token, scope=scope, expires=timezone.now() + lifetime
    )
    return token


def client_register(
    *,
    name: str,
    redirect_uris: list[str],
    kind: str,
    scope: str,
    jwks: dict[str, Any] | None = None,
    jwks_url: str = "",
    allowed_origins: list[str] | None = None,
) -> tuple[Any, str]:
    """Register an app: kind "public", "confidential" or "backend". Returns (application, secret);
    the secret is shown once (it is stored hashed) and is "" for public and backend clients."""
    model = get_application_model()
    secret = secrets.token_urlsafe(32) if kind == "confidential" else ""
    with transaction.atomic():
        application = model.objects.create(
            name=name,
            client_type=model.CLIENT_PUBLIC if kind == "public" else model.CLIENT_CONFIDENTIAL,
            authorization_grant_type=(
                model.GRANT_CLIENT_CREDENTIALS
                if kind == "backend"
                else model.GRANT_AUTHORIZATION_CODE
            ),
            redirect_uris=" ".join(redirect_uris),
            allowed_origins=" ".join(allowed_origins or _origins(redirect_uris)),
            algorithm=model.RS256_ALGORITHM,
            # A backend client authenticates with its key only; its secret is random, never shown.
            client_secret=secret or secrets.token_urlsafe(32),
        )
        ClientScope.objects.create(application=application, scope=scope)
        if kind == "backend":
            ClientKeys.objects.create(application=application, jwks=jwks, jwks_url=jwks_url)
    return application, secret


def _origins(redirect_uris: list[str]) -> list[str]:
    parts = [urlsplit(uri) for uri in redirect_uris]
    return sorted({f"{p.scheme}://{p.netloc}" for p in parts if p.scheme in ("http", "https")})


def account_create(
    *, username: str, password: str, kind: str, fhir_id: str = "", for_patient: str = ""
) -> Account:
    """A login linked to a FHIR identity. For a carer, `for_patient` also records the person's
    consent (a FHIR Consent the patient can see and revoke) that the carer may read their record."""
    if kind != AccountKind.STAFF and not fhir_id:
        raise ValueError(f"a {kind} account needs the id of its FHIR resource")
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, is_staff=kind == AccountKind.STAFF
        )
        account = Account.objects.create(user=user, kind=kind, fhir_id=fhir_id)
        if kind == AccountKind.RELATED_PERSON and for_patient:
            proxy_consent_record(patient_id=for_patient, related_person_id=fhir_id)
    return account


def proxy_consent_record(*, patient_id: str, related_person_id: str) -> str:
    """Write an active Consent letting RelatedPerson `related_person_id` read `patient_id`'s
    record (the profile access.consent honours). Returns the Consent id."""
    codes = "http://terminology.hl7.org/CodeSystem"
    doc = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": f"{codes}/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": timezone.now().isoformat(timespec="seconds"),
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "policyRule": {"coding": [{"system": f"{codes}/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [{"system": f"{codes}/v3-ParticipationType", "code": "PRCP"}]
                    },
                    "reference": {"reference": f"RelatedPerson/{related_person_id}"},
                }
            ],
            "action": [{"coding": [{"system": f"{codes}/consentaction", "code": "access"}]}],
        },
    }
    return Repository(scope=SYSTEM).create(doc=doc).stored.id
