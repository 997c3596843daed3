"""oauthlib server classes with the SMART rules django-oauth-toolkit leaves to the provider.

PKCE: only S256 (oauthlib also accepts `plain`, and treats a missing method as `plain`), and the
challenge must look like a SHA-256 digest. `aud`: an authorization request must name this FHIR
server, so a code is never issued for another audience.
https://hl7.org/fhir/smart-app-launch/app-launch.html#request-authorization-code
"""

import re
from typing import Any

from django.conf import settings
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256
from oauthlib.openid import Server as OIDCServer

_S256_ONLY = {"S256": code_challenge_method_s256}
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def fhir_base_url() -> str:
    return str(settings.FHIR_STORE["PUBLIC_BASE_URL"]).rstrip("/")


def smart_authorize_checks(request: Any) -> dict[str, str]:
    """pre_auth validator: a well-formed S256 challenge and `aud` = this server's FHIR base URL."""
    challenge = getattr(request, "code_challenge", None)
    if challenge is not None and not _CHALLENGE.match(challenge):
        raise errors.InvalidRequestError(
            description="code_challenge must be the base64url SHA-256 of a verifier (43 chars)",
            request=request,
        )
    aud = getattr(request, "aud", None) or ""
    if aud.rstrip("/") != fhir_base_url():
        raise errors.InvalidRequestError(
            description=f"aud must be this server's FHIR base URL, {fhir_base_url()}",
            request=request,
        )
    return {"aud": aud}


def _harden(grant: Any) -> None:
    target = getattr(grant, "proxy_target", grant)
    target._code_challenge_methods = _S256_ONLY
    if smart_authorize_checks not in target.custom_validators.pre_auth:
        target.custom_validators.pre_auth.append(smart_authorize_checks)


class SmartOIDCServer(OIDCServer):
    """oauthlib's OpenID Connect server (DOT uses it when OIDC is on) with the SMART rules."""

    def __init__(self, request_validator: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        _harden(self.auth_grant)
        _harden(self.openid_connect_auth)
