"""Cache-backed rate limits: the OAuth endpoints and the login form per client address, and the
FHIR and app APIs per access token and per client address.

A fixed window per (bucket, address): the Redis cache in production (shared by every worker), local
memory in the embedded default (`access.local_cache`), or any other cache Django is given. Past
the limit: 429 with `Retry-After` and an RFC 6749 error body. Only the limited client is
affected; other addresses keep their own counters.
"""

import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse

from access.conf import access_settings
from access.local_cache import LocalCache


def client_address(request: HttpRequest) -> str:
    """The caller's address: the peer of the connection. A client-supplied X-Forwarded-For is
    never trusted, so behind a proxy this is the proxy's address (README, BEHIND_TLS_PROXY)."""
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _window_key(bucket: str, who: str, window: int) -> tuple[str, int]:
    now = time.time()
    return f"rl:{bucket}:{who}:{int(now // window)}", window - int(now % window)


def count_hit(*, bucket: str, who: str, window: int = 60) -> tuple[int, int]:
    """Count one hit; return (hits in this window, seconds until the window ends)."""
    key, retry_after = _window_key(bucket, who, window)
    return _count([(key, window + 1)])[0], retry_after


def _count(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each (key, seconds to live) counter and return the new counts."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _count_in_redis(backend, keys)
    if isinstance(backend, LocalCache):
        return backend.count(keys)
    return [_count_in_cache(backend, key, ttl) for key, ttl in keys]


def _count_in_cache(backend: BaseCache, key: str, ttl: int) -> int:
    try:
        return int(backend.incr(key))
    except ValueError:  # the first hit of this window, or it expired just now
        if backend.add(key, 1, ttl):
            return 1
        return int(backend.incr(key))


def _count_in_redis(backend: RedisCache, keys: list[tuple[str, int]]) -> list[int]:
    """One round trip for all the counters: INCR and EXPIRE NX pipelined. Django's own
    add-then-incr takes three. The keys and integer values are those `cache.get` reads."""
    client = backend._cache.get_client(None, write=True)  # type: ignore[attr-defined]  # not in the stubs
    pipeline = client.pipeline(transaction=False)
    for key, ttl in keys:
        full_key = backend.make_and_validate_key(key)
        pipeline.incr(full_key)
        pipeline.expire(full_key, ttl, nx=True)
    return [int(count) for count in pipeline.execute()[0::2]]


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

    Returns None when within both, else the seconds to wait."""
    return api_limit_wait(client_address(request), request.headers.get("Authorization", ""))


def api_limit_wait(address: str, header: str) -> int | None:
    """`api_limit_check` for a request from `address` with Authorization `header`. The token is
    hashed before it is used as a cache key, so no token reaches the cache."""
    limits = access_settings()
    checks = [("api-addr", address, limits["API_RATE_PER_MINUTE_PER_ADDRESS"])]
    if header:
        digest = hashlib.sha256(header.encode()).hexdigest()[:32]
        checks.append(("api-token", digest, limits["API_RATE_PER_MINUTE_PER_TOKEN"]))
    checks = [check for check in checks if check[2] > 0]
    if not checks:
        return None
    windows = [_window_key(bucket, who, 60) for bucket, who, _limit in checks]
    counts = _count([(key, 61) for key, _retry in windows])
    for (_bucket, _who, limit), count, (_key, retry_after) in zip(
        checks, counts, windows, strict=True
    ):
        if count > limit:
            return max(retry_after, 1)
    return None
