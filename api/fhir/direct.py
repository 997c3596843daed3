"""The two requests apps make most, answered without Django's request cycle: a plain read by id
(`GET /fhir/[type]/[id]`) and a plain search (`GET /fhir/[type]?...`,
`GET /fhir/Patient/[id]/[type]?...`).

Django's request and response objects, middleware chain, URL resolver and the views' general
machinery cost these requests more CPU than the work itself (bench/RESULTS.md, "read path").
`serve` answers the plain forms from the WSGI environ with the pieces the views use: the token
cache and access scope with its guard (`access.scopes`), `Repository.read` or the search engine,
the rate limits, the audit record, and the same headers (Django's security middleware adds its
own to every answer, here too). The database connection is recycled as Django's request signals
recycle connections (`close_if_unusable_or_obsolete` before and after; these paths use only the
default database); of their other receivers, none has anything to do here but clear DEBUG's
query log, which is bounded anyway.

Only the plain forms are taken; `serve` returns None for anything else and Django serves it, as
before: another method, a read with a query string, a search with `_format`, `_pretty` or
`_type`, an `Origin` (CORS), a conditional read (`If-None-Match`, `If-Modified-Since`), an
`Accept` of anything but JSON, a host not allowed, a token this process has not seen yet, a
route Django sends elsewhere (Subscription, AuditEvent, whose reads publish the audit log
first), and any request that does not succeed (denied, unknown, deleted, a revoked token, an
invalid parameter, an error), so that errors are answered and audited in one place. Nothing is
written before that decision. Over its rate limit a request is passed on too, and Django counts
it once more and answers 429. Tests compare the two paths' answers header for header, and their
audit rows.
"""

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from access.audit import Call, Target, audit_call
from access.ratelimit import api_limit_wait
from access.scopes import known_token_scope
from api.fhir import search_views
from api.fhir.negotiation import media_for_accept
from api.fhir.responses import version_headers
from fhirstore.context import AccessScope, GuardFailed
from fhirstore.errors import FhirError
from fhirstore.repository import Repository, check_type

logger = logging.getLogger(__name__)

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_READ = re.compile(rf"/fhir/([A-Z][A-Za-z]+)/({_ID})/?")
_SEARCH = re.compile(rf"/fhir/(?:Patient/({_ID})/)?([A-Z][A-Za-z]+)/?")
_ACCEPTED = {"", "*/*", "application/fhir+json", "application/json", "application/json+fhir"}
# The views' negotiation reads `_format` and `_pretty`; `_type` may name AuditEvent, which
# Django's view publishes first.
_DECLINED = ("_format", "_pretty", "_type")
StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]


def serve(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes] | None:
    """Answer a plain read by id or search, or None to let Django serve the request."""
    answering = _answering(environ) if _plain(environ) else None
    if answering is None:
        return None
    # What Django's request signals do that matters here, for the one database these use.
    db = connections[DEFAULT_DB_ALIAS]
    db.close_if_unusable_or_obsolete()
    try:
        answer = answering()
    except (FhirError, GuardFailed, DisallowedHost):
        answer = None
    except Exception as error:  # Django serves it again and answers the error in its one way
        # The type only: a message could quote the request's values (patient ids).
        logger.warning("direct answer failed (%s); passed to Django", type(error).__name__)
        answer = None
    finally:
        db.close_if_unusable_or_obsolete()
    if answer is None:
        return None
    status, headers, body = answer
    start_response(status, headers)
    return [body]


def _answering(environ: dict[str, Any]) -> Callable[[], Answer | None] | None:
    """What answers this path, if it is one of the plain forms."""
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    read = _READ.fullmatch(path)
    if read is not None and not query:
        resource_type, logical_id = read[1], read[2]
        if _routed(f"/fhir/{resource_type}/x") == "fhir-instance" and resource_type != "AuditEvent":
            return functools.partial(_read, environ, resource_type, logical_id)
        return None
    search = _SEARCH.fullmatch(path)
    if search is None or search[2] == "AuditEvent":
        return None
    patient, resource_type = search[1], search[2]
    if patient:
        routed_here = _routed(f"/fhir/Patient/x/{resource_type}") == "fhir-compartment-search"
    else:
        routed_here = _routed(f"/fhir/{resource_type}") == "fhir-type"
    if not routed_here:
        return None
    params = parse_qsl(query, keep_blank_values=True)
    if any(name in _DECLINED for name, _value in params):
        return None
    return functools.partial(_search, environ, resource_type, patient, params)


def _plain(environ: dict[str, Any]) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and "HTTP_ORIGIN" not in environ
        and "HTTP_IF_NONE_MATCH" not in environ  # conditional reads: the view answers 304
        and "HTTP_IF_MODIFIED_SINCE" not in environ
        and environ.get("HTTP_ACCEPT", "").strip().lower() in _ACCEPTED
        and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
    )


@functools.lru_cache(maxsize=512)
def _routed(path: str) -> str:
    """The name of the route Django gives `GET path` (some types have routes of their own)."""
    try:
        return resolve(path).url_name or ""
    except Resolver404:
        return ""


def _caller(environ: dict[str, Any]) -> tuple[WSGIRequest, AccessScope] | None:
    """The request (its token attached) and scope (the token's check left to the store), or None."""
    request = WSGIRequest(environ)
    request.get_host()  # DisallowedHost: Django answers 400
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    known = known_token_scope(environ["HTTP_AUTHORIZATION"][7:].strip())
    if known is None:
        return None
    token, scope = known
    request.access_token = token  # type: ignore[attr-defined]  # as access.scopes sets it
    return request, scope


def _within_limits(environ: dict[str, Any]) -> bool:
    address = str(environ.get("REMOTE_ADDR", "unknown"))
    return api_limit_wait(address, environ["HTTP_AUTHORIZATION"]) is None


def _read(environ: dict[str, Any], resource_type: str, logical_id: str) -> Answer | None:
    caller = _caller(environ)
    if caller is None:
        return None
    request, scope = caller
    repo = Repository(scope=scope)
    stored = repo.read(resource_type=resource_type, logical_id=logical_id)
    if not _within_limits(environ):
        return None
    target = Target("read", resource_type, logical_id, known_patients=repo.read_patients)
    audit_call(Call.of(request), scope=scope, status=200, target=target)
    return _ok(environ, request, stored.text, version_headers(stored).items())


def _search(
    environ: dict[str, Any],
    resource_type: str,
    patient: str | None,
    params: list[tuple[str, str]],
) -> Answer | None:
    caller = _caller(environ)
    if caller is None:
        return None
    request, scope = caller
    check_type(resource_type)
    repo = Repository(scope=scope)
    body = search_views.searchset(
        request=request,
        params=params,
        repo=repo,
        resource_type=resource_type,
        path=f"Patient/{patient}/{resource_type}" if patient else resource_type,
        compartment=("Patient", patient) if patient else None,
    )
    repo.require_live()  # if no page proved them; GuardFailed: Django answers 401
    if not _within_limits(environ):
        return None
    target = Target("search-type", resource_type, "", patient or "")
    audit_call(Call.of(request), scope=scope, status=200, target=target)
    return _ok(environ, request, body, ())


def _ok(
    environ: dict[str, Any], request: WSGIRequest, body: bytes, extra: Iterable[tuple[str, str]]
) -> Answer:
    media = media_for_accept(environ.get("HTTP_ACCEPT", ""))
    headers = [
        ("Content-Type", f"{media}; charset=utf-8"),
        *extra,
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
        *_security_headers(request.is_secure(), _security_settings()),
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
