"""Which stored rows a Bulk Data export holds, and their text streamed in key order.

An export of one type is the current, non-deleted resources of that type the caller's AccessScope
may read (the search layer's access condition, so isolation stays in one place), updated after
`_since` and no later than the job's transaction time, narrowed to patient compartments for
Patient and Group exports and to the `_typeFilter` matches. Rows come in primary-key order (the
order they were written, close to their order on disk), so a job resumes after the last key it
saved. `export_reading` wraps the iteration: on PostgreSQL a transaction, so Django uses a true
server-side cursor (outside one it declares a WITH HOLD cursor, which materialises the whole
result first), planned for the whole result rather than its first rows: a fast-start plan walks
the entire table in key order to find a small type's rows, once per type.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from fhirstore import jsontext
from fhirstore.compartment import compartment_paths
from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden
from fhirstore.fhirmodels import RESOURCE_TYPES
from fhirstore.models import CompartmentMember, Resource
from fhirstore.operations.export.params import ExportRequest, type_filter_criteria
from fhirstore.search.engine import matching_rows
from fhirstore.search.request import SearchRequest

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class ExportSelection:
    """One export's rows: `patient_level` limits them to patient compartments, those of
    `patients` when given (a Group's members, or POST `patient`), else every patient's."""

    request: ExportRequest
    until: datetime
    patient_level: bool = False
    patients: frozenset[str] | None = None


def compartment_types() -> frozenset[str]:
    """Types that can be in a patient's compartment: what a Patient or Group export may hold."""
    return frozenset(compartment_paths()) | {"Patient"}


def check_export_types(*, selection: ExportSelection, scope: AccessScope) -> None:
    """A `_type` the caller may not read is refused at kick-off (403), as a search would be."""
    for resource_type in selection.request.types:
        if not scope.may_read(resource_type):
            raise Forbidden(f"Not allowed to read {resource_type} resources")


def export_types(*, selection: ExportSelection, scope: AccessScope) -> list[str]:
    """The types to export: those requested in their order (or every readable type, by name)
    that have rows."""
    candidates = selection.request.types or tuple(sorted(RESOURCE_TYPES))
    candidates = tuple(t for t in candidates if scope.may_read(t))
    if selection.patient_level:
        candidates = tuple(t for t in candidates if t in compartment_types())
    present = _present_types(selection, scope, candidates)
    return [t for t in candidates if t in present]


def skipped_types(*, selection: ExportSelection) -> list[str]:
    """Requested types a Patient or Group export cannot hold (no patient compartment)."""
    if not selection.patient_level:
        return []
    return [t for t in selection.request.types if t not in compartment_types()]


def _present_types(
    selection: ExportSelection, scope: AccessScope, candidates: tuple[str, ...]
) -> set[str]:
    patients = _patients(selection, scope)
    if patients is not None:
        members = CompartmentMember.objects.filter(
            patient_id__in=sorted(patients), resource_type__in=candidates
        )
        return set(members.values_list("resource_type", flat=True).distinct())
    # One index probe per type beats a DISTINCT over millions of rows.
    return {t for t in candidates if Resource.objects.filter(resource_type=t).exists()}


def _patients(selection: ExportSelection, scope: AccessScope) -> frozenset[str] | None:
    """The compartments to read from; None when every row (or every patient's) is wanted."""
    chosen = selection.patients
    if scope.patient_ids is not None and selection.patient_level:
        chosen = scope.patient_ids if chosen is None else chosen & scope.patient_ids
    if selection.request.patients:
        asked = frozenset(selection.request.patients)
        chosen = asked if chosen is None else chosen & asked
    return chosen if selection.patient_level else None


def export_rows(
    *, selection: ExportSelection, scope: AccessScope, resource_type: str, after: int = 0
) -> QuerySet[Resource]:
    """The rows of `resource_type` to export with primary key above `after`, in key order."""
    rows = matching_rows(request=SearchRequest(resource_type=resource_type), scope=scope)
    rows = rows.filter(last_updated__lte=selection.until, pk__gt=after)
    if selection.request.since is not None:
        rows = rows.filter(last_updated__gt=selection.request.since)
    rows = rows.filter(_compartment_q(selection, scope, resource_type))
    rows = rows.filter(_type_filter_q(selection, scope, resource_type))
    return rows.order_by("pk")


def _compartment_q(selection: ExportSelection, scope: AccessScope, resource_type: str) -> Q:
    if not selection.patient_level:
        return Q()
    patients = _patients(selection, scope)
    if patients is None:
        return Q(Exists(CompartmentMember.objects.filter(resource_id=OuterRef("pk"))))
    members = CompartmentMember.objects.filter(
        patient_id__in=sorted(patients), resource_type=resource_type
    )
    return Q(pk__in=members.values("resource_id"))


def _type_filter_q(selection: ExportSelection, scope: AccessScope, resource_type: str) -> Q:
    queries = selection.request.type_filters.get(resource_type, ())
    if not queries:
        return Q()
    matches = [
        Q(
            pk__in=matching_rows(
                request=type_filter_criteria(resource_type, q), scope=scope
            ).values("pk")
        )
        for q in queries
    ]
    return reduce(or_, matches)


def export_lines(
    rows: QuerySet[Resource], *, chunk_size: int = CHUNK_ROWS
) -> Iterator[tuple[int, str]]:
    """(primary key, NDJSON line without its newline) per row: the stored text itself.

    Stored text is compact JSON, which never holds a raw newline; should one ever appear (text
    written by an older code path), that row alone is re-serialised so the file stays NDJSON.
    """
    for pk, text in rows.values_list("pk", "text").iterator(chunk_size=chunk_size):
        if "\n" in text:
            text = jsontext.dumps(jsontext.loads(text)).decode()
        yield pk, text


@contextmanager
def export_reading() -> Iterator[None]:
    """The transaction to iterate `export_lines` in (see the module docstring)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield
