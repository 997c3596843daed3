"""Typed access to the `ACCESS` settings dict (backend/settings.py, README "Configuration")."""

from typing import TypedDict, cast

from django.conf import settings


class AccessSettings(TypedDict):
    OAUTH_BASE_URL: str
    LAUNCH_SECONDS: int
    ASSERTION_MAX_SECONDS: int
    JWKS_FETCH_TIMEOUT: int
    OAUTH_RATE_PER_MINUTE: int
    API_RATE_PER_MINUTE_PER_TOKEN: int
    API_RATE_PER_MINUTE_PER_ADDRESS: int
    LOGIN_FAILURES_ALLOWED: int
    LOGIN_LOCKOUT_SECONDS: int
    CORS_ALLOWED_ORIGINS: list[str]
    MANAGEMENT_PATH: str
    AUDIT_BATCH_ROWS: int
    AUDIT_FLUSH_MS: int


def access_settings() -> AccessSettings:
    """The ACCESS dict, read at call time so tests can override it."""
    return cast(AccessSettings, settings.ACCESS)
