"""CORS for browser apps: discovery, metadata, token and FHIR endpoints, registered origins only.

An origin is allowed when a registered application lists it (DOT's `allowed_origins`) or the
operator allows it (env CORS_ALLOWED_ORIGINS). The answer names that one origin, never `*`, and
never allows credentials: apps send bearer tokens, not cookies. Login and consent pages are
navigations, not fetches, and get no CORS headers.
https://fetch.spec.whatwg.org/#http-cors-protocol
"""

from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from oauth2_provider.models import get_application_model

from access.conf import access_settings

_PATHS = (
    "/fhir",
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/jwks",
    "/oauth/userinfo",
    "/oauth/.well-known",
)
_ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, "
    "If-Modified-Since, Prefer, X-Provenance"
)
_EXPOSE_HEADERS = "Location, Content-Location, ETag, Last-Modified"
_CACHE_SECONDS = 60


def origin_allowed(origin: str) -> bool:
    """Is `origin` (scheme://host[:port]) registered by an app or the operator?"""
    if origin in access_settings()["CORS_ALLOWED_ORIGINS"]:
        return True
    key = f"cors-origin:{origin}"
    cached = cache.get(key)
    if cached is None:
        candidates = get_application_model().objects.filter(allowed_origins__contains=origin)
        cached = any(origin in app.allowed_origins.split() for app in candidates)
        cache.set(key, cached, _CACHE_SECONDS)
    return bool(cached)


def _decorate(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
    response["Vary"] = ", ".join(filter(None, [response.get("Vary", ""), "Origin"]))
    return response


def _preflight(origin: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    response["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
    response["Access-Control-Max-Age"] = "600"
    return _decorate(response, origin)


class CorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        if not origin or not request.path.startswith(_PATHS) or not origin_allowed(origin):
            return self.get_response(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return _preflight(origin)
        return _decorate(self.get_response(request), origin)
