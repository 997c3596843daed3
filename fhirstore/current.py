"""The current version of one resource, read by (type, id) on every read by id.

Straight SQL through `prepared.first_row`, because the ORM's query compiling and model building
(and on PostgreSQL even psycopg's cursor) cost more CPU than the database spends answering.
When the caller's credentials still await their per-request check (`AccessScope.guard`), the
check rides in the same statement: one round trip instead of two.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhirstore.context import Guard, GuardFailed
from fhirstore.prepared import first_row
from fhirstore.stored import aware

_COLUMNS = (
    "r.id, r.resource_type, r.logical_id, r.version, r.last_updated, r.deleted, r.text, r.patients"
)
_MATCH = "r.resource_type = %s AND r.logical_id = %s"
_PLAIN_SQL = f"SELECT {_COLUMNS} FROM fhirstore_resource r WHERE {_MATCH}"
# One row always: the guard's answer, and the resource's columns when there is one.
_GUARDED_SQL = (
    "SELECT ({guard}), " + _COLUMNS + " FROM (SELECT 1) AS one"
    " LEFT JOIN fhirstore_resource r ON " + _MATCH
)


@dataclass(frozen=True, slots=True)
class CurrentRow:
    """The current version of a resource as a read needs it."""

    pk: int
    resource_type: str
    logical_id: str
    version: int
    last_updated: datetime
    deleted: bool
    text: str
    patients: str

    @property
    def patient_ids(self) -> frozenset[str]:
        return frozenset(self.patients.split())


def read_current(resource_type: str, logical_id: str) -> CurrentRow | None:
    """The current row of (type, id), by its unique index."""
    return _row(first_row(_PLAIN_SQL, [resource_type, logical_id]))


def read_current_guarded(resource_type: str, logical_id: str, guard: Guard) -> CurrentRow | None:
    """As `read_current`, checking `guard` in the same statement; GuardFailed when false."""
    found = first_row(
        _GUARDED_SQL.format(guard=guard.sql), [*guard.params, resource_type, logical_id]
    )
    assert found is not None  # the statement always gives one row
    live, *columns = found
    if not _flag(live):
        raise GuardFailed()
    return _row(columns if columns[0] is not None else None)


def guard_holds(guard: Guard) -> bool:
    found = first_row(f"SELECT ({guard.sql})", list(guard.params))
    return found is not None and _flag(found[0])


def _row(found: "tuple[Any, ...] | list[Any] | None") -> CurrentRow | None:
    """A row as `first_row` gives it: typed by the driver, or as PostgreSQL's text."""
    if found is None:
        return None
    pk, found_type, found_id, version, updated, deleted, text, patients = found
    return CurrentRow(
        int(pk), found_type, found_id, int(version), aware(updated), _flag(deleted), text, patients
    )


def _flag(value: Any) -> bool:
    """A boolean column: True/False, 1/0 (SQLite) or "t"/"f" (PostgreSQL's text)."""
    return value == "t" if isinstance(value, str) else bool(value)
