"""Values the store hands out: a stored resource version and the outcome of a write.

They carry the stored JSON text as bytes so callers can stream it without re-parsing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime


def format_instant(moment: datetime) -> str:
    """FHIR instant text for a UTC datetime, to the millisecond (what meta.lastUpdated holds)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def aware(value: datetime | str) -> datetime:
    """A UTC datetime from a raw cursor: PostgreSQL hands back an aware datetime, SQLite text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def http_date(moment: datetime) -> str:
    """RFC 9110 date for Last-Modified."""
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


@dataclass(frozen=True)
class Stored:
    """One version of a resource as stored; `text` is empty for a deletion tombstone."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    text: bytes
    method: str = ""

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version}"


@dataclass(frozen=True)
class WriteResult:
    """What a create, update, patch or delete did: `status` is the HTTP status it implies."""

    stored: Stored
    status: int
    created: bool = False
