"""`GET /fhir/[type]/[id]`, the request apps make most, answered without Django's request cycle.

Django's request and response objects, middleware chain, URL resolver and the `instance` view's
general machinery cost a read by id more CPU than the read itself (bench/RESULTS.md, "read
path"). `serve` answers the plain form of that request from the WSGI environ with the pieces the
view uses: the token cache and access scope with its guard (`access.scopes`), `Repository.read`,
the rate limits, the audit record, and the same headers (Django's security middleware adds its
own to every answer, here too). Database connections are recycled as Django's request signals
recycle them (`close_old_connections` before and after); of their other receivers, none has
anything to do here but clear DEBUG's query log, which is bounded anyway.

Only the plain form is taken; `serve` returns None for anything else and Django serves it, as
before: another method, a query string, an `Origin` (CORS), a conditional read (`If-None-Match`,
`If-Modified-Since`), an `Accept` of anything but JSON, a
host not allowed, a token this process has not seen yet, a route Django sends elsewhere
(Subscription, AuditEvent), and any read that does not succeed (denied, unknown, deleted, a
revoked token, an error), so that errors are answered and audited in one place. Nothing is
written before that decision. Over its rate limit a request is passed on too, and Django counts
it once more and answers 429. Tests compare the two paths' answers header for header.
"""

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from access.audit import Call, Target, audit_call
from access.ratelimit import api_limit_wait
from access.scopes import known_token_scope
from api.fhir.negotiation import media_for_accept
from api.fhir.responses import version_headers
from fhirstore.context import GuardFailed
from fhirstore.errors import FhirError
from fhirstore.repository import Repository

logger = logging.getLogger(__name__)

_PATH = re.compile(r"/fhir/([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})/?")
_ACCEPTED = {"", "*/*", "application/fhir+json", "application/json", "application/json+fhir"}
StartResponse = Callable[..., Any]


def serve(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes] | None:
    """Answer a plain read by id, or None to let Django serve the request."""
    found = _PATH.fullmatch(environ.get("PATH_INFO", ""))
    if found is None or not _plain(environ) or not _routed_here(found[1]):
        return None
    close_old_connections()  # what Django's request signals do that matters here
    try:
        answer = _answer(environ, resource_type=found[1], logical_id=found[2])
    except (FhirError, GuardFailed, DisallowedHost):
        answer = None
    except Exception:  # Django serves it again and answers the error in its one way
        logger.exception("direct read failed; passed to Django")
        answer = None
    finally:
        close_old_connections()
    if answer is None:
        return None
    status, headers, body = answer
    start_response(status, headers)
    return [body]


def _plain(environ: dict[str, Any]) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and not environ.get("QUERY_STRING")
        and "HTTP_ORIGIN" not in environ
        and "HTTP_IF_NONE_MATCH" not in environ  # conditional reads: the view answers 304
        and "HTTP_IF_MODIFIED_SINCE" not in environ
        and environ.get("HTTP_ACCEPT", "").strip().lower() in _ACCEPTED
        and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
    )


@functools.lru_cache(maxsize=256)
def _routed_here(resource_type: str) -> bool:
    """Whether Django routes `GET /fhir/<type>/<id>` to the instance view (some types have
    routes of their own)."""
    try:
        match = resolve(f"/fhir/{resource_type}/x")
    except Resolver404:
        return False
    return match.url_name == "fhir-instance" and resource_type != "AuditEvent"


def _answer(
    environ: dict[str, Any], *, resource_type: str, logical_id: str
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    request = WSGIRequest(environ)
    request.get_host()  # DisallowedHost: Django answers 400
    secure = request.is_secure()
    if settings.SECURE_SSL_REDIRECT and not secure:
        return None
    authorization = environ["HTTP_AUTHORIZATION"]
    known = known_token_scope(authorization[7:].strip())
    if known is None:
        return None
    token, scope = known
    media = media_for_accept(environ.get("HTTP_ACCEPT", ""))
    repo = Repository(scope=scope)
    stored = repo.read(resource_type=resource_type, logical_id=logical_id)
    address = str(environ.get("REMOTE_ADDR", "unknown"))
    if api_limit_wait(address, authorization) is not None:
        return None
    call = Call(
        method="GET",
        path=request.path,
        query="",
        query_patients=frozenset(),
        purpose=environ.get("HTTP_X_PURPOSE_OF_USE", ""),
        address=environ.get("REMOTE_ADDR") or "",
        token=token,
    )
    target = Target("read", resource_type, logical_id, known_patients=repo.read_patients)
    audit_call(call, scope=scope, status=200, target=target)
    body = stored.text
    headers = [
        ("Content-Type", f"{media}; charset=utf-8"),
        *version_headers(stored).items(),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
        *_security_headers(secure, _security_settings()),
    ]
    return "200 OK", headers, body


def _security_settings() -> tuple[Any, ...]:
    return tuple(getattr(settings, name) for name in _SECURITY_SETTINGS)


_SECURITY_SETTINGS = (
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
)


@functools.lru_cache(maxsize=8)
def _security_headers(secure: bool, _settings: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """The headers Django's SecurityMiddleware adds to a response (HSTS only over TLS), worked
    out by the middleware itself once per setting values."""

    class _Request:
        def is_secure(self) -> bool:
            return secure

    response = SecurityMiddleware(lambda request: HttpResponse()).process_response(
        _Request(),  # type: ignore[arg-type]  # the middleware asks only is_secure()
        HttpResponse(),
    )
    return tuple((name, value) for name, value in response.items() if name != "Content-Type")
