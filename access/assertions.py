"""SMART Backend Services client authentication: a `private_key_jwt` client assertion.

The client signs a short JWT with its private key (RS384 or ES384); we check it against the public
keys registered for it (inline JWKS or a JWKS URL), then refuse replays of its `jti`.
Rules: `iss` = `sub` = client_id, `aud` = our token endpoint, `exp` at most five minutes ahead,
`alg: none` and HMAC algorithms never accepted.
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html
"""

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import jwt
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import get_application_model

from access.conf import access_settings
from access.models import ClientKeys, UsedAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
_JWKS_CACHE_SECONDS = 300
_JWKS_MAX_BYTES = 256 * 1024


class AssertionRefused(Exception):
    """The assertion does not authenticate its client; the message says why (safe to log)."""


def token_endpoint_url() -> str:
    return f"{access_settings()['OAUTH_BASE_URL']}/token"


def _fetch_jwks(url: str) -> dict[str, Any]:
    cached = cache.get(f"jwks:{url}")
    if cached is not None:
        return dict(cached)
    try:
        with urllib.request.urlopen(url, timeout=access_settings()["JWKS_FETCH_TIMEOUT"]) as reply:  # noqa: S310
            jwks = json.loads(reply.read(_JWKS_MAX_BYTES))
    except (OSError, ValueError) as error:
        raise AssertionRefused(f"the client's JWKS URL could not be read: {error}") from None
    cache.set(f"jwks:{url}", jwks, _JWKS_CACHE_SECONDS)
    return dict(jwks)


def _client_jwks(keys: ClientKeys) -> list[dict[str, Any]]:
    jwks = keys.jwks if keys.jwks else _fetch_jwks(keys.jwks_url) if keys.jwks_url else {}
    found = jwks.get("keys", []) if isinstance(jwks, dict) else []
    return [key for key in found if isinstance(key, dict)]


def _signing_key(keys: ClientKeys, header: dict[str, Any]) -> Any:
    candidates = [key for key in _client_jwks(keys) if key.get("kid") == header.get("kid")]
    candidates = candidates or ([] if header.get("kid") else _client_jwks(keys))
    for candidate in candidates:
        try:
            return jwt.PyJWK(candidate, algorithm=header["alg"]).key
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            continue
    raise AssertionRefused("no registered key of this client matches the assertion's kid and alg")


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AssertionRefused("the client assertion is not a JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise AssertionRefused(f"the assertion must be signed with one of {', '.join(ALGORITHMS)}")
    if not claims.get("iss") or claims.get("iss") != claims.get("sub"):
        raise AssertionRefused("iss and sub must both be the client_id")
    return header, claims


def _verified(assertion: str, key: Any, alg: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            audience=token_endpoint_url(),
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.PyJWTError as error:
        raise AssertionRefused(f"the client assertion is not valid: {error}") from None
    lifetime = claims["exp"] - timezone.now().timestamp()
    if lifetime > access_settings()["ASSERTION_MAX_SECONDS"]:
        raise AssertionRefused("the assertion's exp is more than five minutes ahead")
    return claims


def _record_jti(client_id: str, claims: dict[str, Any]) -> None:
    now = timezone.now()
    UsedAssertion.objects.filter(expires__lt=now).delete()
    expires = datetime.fromtimestamp(claims["exp"], tz=UTC)
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(jti=f"{client_id}:{claims['jti']}"[:255], expires=expires)
    except IntegrityError:
        raise AssertionRefused("this assertion's jti was already used") from None


def assertion_client(*, assertion: str) -> Any:
    """The Application the assertion authenticates, or AssertionRefused."""
    header, unverified = _unverified(assertion)
    application = (
        get_application_model()
        .objects.filter(client_id=unverified["iss"])
        .select_related("client_keys")
        .first()
    )
    keys = getattr(application, "client_keys", None) if application else None
    if keys is None:
        raise AssertionRefused("unknown client, or no keys registered for it")
    claims = _verified(assertion, _signing_key(keys, header), header["alg"])
    _record_jti(application.client_id, claims)
    return application
