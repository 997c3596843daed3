"""Token introspection (RFC 7662) with the SMART fields a resource server needs.

The caller must be an authenticated client (client secret or private_key_jwt) or hold a token with
the `introspection` scope. The answer for an unknown, expired or revoked token is
`{"active": false}` and nothing else. https://hl7.org/fhir/smart-app-launch/token-introspection.html
"""

import hashlib
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_backends import get_oauthlib_core

from access.conf import access_settings


def access_token_for(token: str) -> Any:
    """The AccessToken row for a bearer value, or None."""
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return (
        get_access_token_model()
        .objects.select_related("application", "user")
        .filter(token_checksum=checksum)
        .first()
    )


def introspection_caller_ok(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        caller = access_token_for(header[7:].strip())
        return caller is not None and caller.is_valid(["introspection"])
    return bool(get_oauthlib_core().authenticate_client(request))


def _context_fields(token: Any) -> dict[str, Any]:
    context = getattr(token, "smart_context", None)
    if context is None:
        return {}
    fields: dict[str, Any] = {}
    if context.patient_id:
        fields["patient"] = context.patient_id
    if context.encounter_id:
        fields["encounter"] = context.encounter_id
    if context.fhir_user:
        fields["fhirUser"] = f"{settings.FHIR_STORE['PUBLIC_BASE_URL']}/{context.fhir_user}"
    return fields


def token_introspection(token: str) -> dict[str, Any]:
    """The RFC 7662 answer for `token`."""
    found = access_token_for(token) if token else None
    if found is None or found.expires <= timezone.now():
        return {"active": False}
    answer: dict[str, Any] = {
        "active": True,
        "scope": found.scope,
        "client_id": found.application.client_id if found.application else None,
        "token_type": "Bearer",
        "exp": int(found.expires.timestamp()),
        "iat": int(found.created.timestamp()),
        "iss": access_settings()["OAUTH_BASE_URL"],
    }
    if found.user is not None:
        answer.update(sub=str(found.user.pk), username=found.user.get_username())
    return answer | _context_fields(found)
