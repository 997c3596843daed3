"""Typed access to the store's settings (`settings.FHIR_STORE`), with defaults in one place."""

from typing import Any

from django.conf import settings

_DEFAULTS: dict[str, Any] = {
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000/fhir",
    "MAX_BODY_BYTES": 20 * 1024 * 1024,
    "DEFAULT_COUNT": 20,
    "MAX_COUNT": 1000,
    "OPEN_ACCESS_IN_DEBUG": True,
    "CURSOR_MAX_AGE": 3600,
}


def _value(name: str) -> Any:
    configured: dict[str, Any] = getattr(settings, "FHIR_STORE", {})
    return configured.get(name, _DEFAULTS[name])


def public_base_url() -> str:
    """The absolute FHIR base URL clients use, without a trailing slash."""
    return str(_value("PUBLIC_BASE_URL")).rstrip("/")


def max_body_bytes() -> int:
    return int(_value("MAX_BODY_BYTES"))


def default_count() -> int:
    return int(_value("DEFAULT_COUNT"))


def max_count() -> int:
    return int(_value("MAX_COUNT"))


def open_access_in_debug() -> bool:
    return bool(_value("OPEN_ACCESS_IN_DEBUG"))


def cursor_max_age() -> int:
    """Seconds a search paging cursor stays valid."""
    return int(_value("CURSOR_MAX_AGE"))
