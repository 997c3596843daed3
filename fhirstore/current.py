"""The current version of one resource, read by (type, id) on every read by id.

A plain cursor, because the ORM's query compiling and model building cost more CPU than the
database spends answering. When the caller's credentials still await their per-request check
(`AccessScope.guard`), the check rides in the same statement: one round trip instead of two.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhirstore.context import Guard, GuardFailed
from fhirstore.prepared import prepared_cursor
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
    with prepared_cursor() as cursor:
        cursor.execute(_PLAIN_SQL, [resource_type, logical_id])
        found = cursor.fetchone()
    return _row(found)


def read_current_guarded(resource_type: str, logical_id: str, guard: Guard) -> CurrentRow | None:
    """As `read_current`, checking `guard` in the same statement; GuardFailed when false."""
    with prepared_cursor() as cursor:
        cursor.execute(
            _GUARDED_SQL.format(guard=guard.sql), [*guard.params, resource_type, logical_id]
        )
        live, *found = cursor.fetchone()
    if not live:
        raise GuardFailed()
    return _row(found if found[0] is not None else None)


def guard_holds(guard: Guard) -> bool:
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT ({guard.sql})", list(guard.params))
        return bool(cursor.fetchone()[0])


def _row(found: "tuple[Any, ...] | list[Any] | None") -> CurrentRow | None:
    if found is None:
        return None
    pk, found_type, found_id, version, updated, deleted, text, patients = found
    return CurrentRow(
        pk, found_type, found_id, version, aware(updated), bool(deleted), text, patients
    )
