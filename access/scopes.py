"""The access scope of a request: who is calling and what the store may show them.

Built once per request from the bearer token (django-oauth-toolkit's AccessToken). Until SMART
launch contexts land, tokens with `system/` scopes (backend services) are honoured; other tokens get
no access. In DEBUG, with FHIR_OPEN_ACCESS_IN_DEBUG, a request with no token acts as the system,
so the embedded default is explorable; a production process never runs open.
"""

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from access.smart_scopes import parse_scopes
from fhirstore.context import SYSTEM, AccessScope
from fhirstore.errors import FhirError


def _unauthorised(message: str) -> FhirError:
    return FhirError(message, http_status=401, code="login",
                     headers={"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'})


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise _unauthorised("The Authorization header must be 'Bearer <token>'")
    return token.strip()


def _scope_from_grant(scope_text: str, actor: str) -> AccessScope:
    granted = [s for s in parse_scopes(scope_text) if s.context == "system"]
    readable = frozenset(s.resource_type for s in granted if "r" in s.permissions)
    writable = frozenset(s.resource_type for s in granted if "c" in s.permissions or "u" in s.permissions)
    return AccessScope(patient_ids=None, readable=readable, writable=writable, actor=actor)


def scope_for_request(request: HttpRequest) -> AccessScope:
    """The AccessScope for this request, or FhirError 401 when it carries no usable credentials."""
    token_text = _bearer(request)
    if token_text is None:
        if settings.DEBUG and settings.FHIR_STORE["OPEN_ACCESS_IN_DEBUG"]:
            return SYSTEM
        raise _unauthorised("A bearer token is required")
    token = get_access_token_model().objects.select_related("application").filter(token=token_text).first()
    if token is None or token.expires <= timezone.now():
        raise _unauthorised("The access token is unknown, expired or revoked")
    actor = f"client:{token.application.client_id}" if token.application else "client:unknown"
    return _scope_from_grant(token.scope, actor)
