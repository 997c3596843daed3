"""Typed access to the export settings (`settings.BULK_EXPORT`), with defaults in one place, and
the storage the export files go to (`STORAGES["exports"]`, local files unless configured)."""

from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages

_DEFAULTS: dict[str, Any] = {
    "TTL_SECONDS": 24 * 3600,
    "FILE_MAX_MB": 64,
    "LEASE_SECONDS": 60,
    "MAX_ATTEMPTS": 5,
    "RUN_IN_THREAD": True,
}


def _value(name: str) -> Any:
    configured: dict[str, Any] = getattr(settings, "BULK_EXPORT", {})
    return configured.get(name, _DEFAULTS[name])


def ttl_seconds() -> int:
    """How long a finished job and its files are kept before they expire."""
    return int(_value("TTL_SECONDS"))


def file_max_bytes() -> int:
    """Size past which a type's output is split into another file."""
    return int(float(_value("FILE_MAX_MB")) * 1024 * 1024)


def lease_seconds() -> int:
    """How long a worker owns a running job without reporting progress before another may
    take it over; each output file also ends after a third of it, so progress keeps coming."""
    return int(_value("LEASE_SECONDS"))


def max_attempts() -> int:
    return int(_value("MAX_ATTEMPTS"))


def run_in_thread() -> bool:
    """Embedded (no broker): run jobs on a thread of the web process rather than inside the
    kick-off request, so the kick-off still answers at once."""
    return bool(_value("RUN_IN_THREAD")) and bool(
        getattr(settings, "CELERY_TASK_ALWAYS_EAGER", True)
    )


def export_storage() -> Storage:
    return storages["exports"] if "exports" in settings.STORAGES else storages["default"]
