"""Cache-backed rate limits: the OAuth endpoints and the login form per client address, and the
FHIR and app APIs per access token and per client address.

A fixed window per (bucket, address): the Redis cache in production (shared by every worker), local
memory in the embedded default. Past the limit: 429 with `Retry-After` and an RFC 6749 error body.
Only the limited client is affected; other addresses keep their own counters.
"""

import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from access.conf import access_settings


def client_address(request: HttpRequest) -> str:
    """The caller's address. Behind the TLS proxy (BEHIND_TLS_PROXY), the proxy sets REMOTE_ADDR
    for gunicorn via its forwarded-allow-ips; we never trust a client-supplied X-Forwarded-For."""
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _window_key(bucket: str, who: str, window: int) -> tuple[str, int]:
    now = time.time()
    return f"rl:{bucket}:{who}:{int(now // window)}", window - int(now % window)


def count_hit(*, bucket: str, who: str, window: int = 60) -> tuple[int, int]:
    """Count one hit; return (hits in this window, seconds until the window ends)."""
    key, retry_after = _window_key(bucket, who, window)
    cache.add(key, 0, window + 1)
    try:
        return cache.incr(key), retry_after
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 1)
        return 1, retry_after


def peek(*, bucket: str, who: str, window: int) -> tuple[int, int]:
    key, retry_after = _window_key(bucket, who, window)
    return int(cache.get(key, 0)), retry_after


def reset(*, bucket: str, who: str, window: int) -> None:
    cache.delete(_window_key(bucket, who, window)[0])


def too_many(retry_after: int) -> HttpResponse:
    body = {
        "error": "temporarily_unavailable",
        "error_description": f"Too many requests from this address; retry in {retry_after} seconds",
    }
    response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
    response["Retry-After"] = str(max(retry_after, 1))
    response["Cache-Control"] = "no-store"
    return response


def rate_limited(
    bucket: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorate a view: at most ACCESS["OAUTH_RATE_PER_MINUTE"] requests per address per minute."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            hits, retry_after = count_hit(bucket=bucket, who=client_address(request))
            if hits > access_settings()["OAUTH_RATE_PER_MINUTE"]:
                return too_many(retry_after)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def api_limit_check(request: HttpRequest) -> int | None:
    """Count an API request against its token's and its address's limits.

    Returns None when within both, else the seconds to wait. The token is hashed before it is
    used as a cache key, so no token reaches the cache.
    """
    limits = access_settings()
    checks = [("api-addr", client_address(request), limits["API_RATE_PER_MINUTE_PER_ADDRESS"])]
    header = request.headers.get("Authorization", "")
    if header:
        digest = hashlib.sha256(header.encode()).hexdigest()[:32]
        checks.append(("api-token", digest, limits["API_RATE_PER_MINUTE_PER_TOKEN"]))
    for bucket, who, limit in checks:
        if limit <= 0:
            continue
        hits, retry_after = count_hit(bucket=bucket, who=who)
        if hits > limit:
            return max(retry_after, 1)
    return None
