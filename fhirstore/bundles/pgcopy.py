"""PostgreSQL COPY for the rows of new resources: the ingest path's writer on PostgreSQL.

Multi-row INSERTs of large JSON texts cost more in parameter handling than the database spends
storing them; COPY streams the same rows for a fraction of the CPU. Primary keys are taken from
the table's sequence first, so the version and compartment rows can point at them without a
RETURNING round trip. Runs inside the caller's transaction; a duplicate id raises IntegrityError,
a value its column cannot hold DataError, as Django's own cursors raise them.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DataError, IntegrityError, connection
from django.db.models import Model

from fhirstore.models import CompartmentMember, Resource, ResourceVersion


def _columns(model: type[Model], names: tuple[str, ...]) -> str:
    columns = {field.name: field.column for field in model._meta.concrete_fields}
    return ", ".join(columns[name] for name in names)


def allocate_ids(count: int) -> list[int]:
    """`count` fresh primary keys of the Resource table, in one query."""
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model: type[Model], names: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY `rows` (values in the order of field `names`) into `model`'s table."""
    with _copying(model, names) as copy:
        for row in rows:
            copy.write_row(row)


def copy_text(model: type[Model], names: tuple[str, ...], data: bytes) -> None:
    """COPY `data`, rows already in COPY's text format, into `model`'s table."""
    with _copying(model, names) as copy:
        copy.write(data)


@contextmanager
def _copying(model: type[Model], names: tuple[str, ...]) -> Iterator[Any]:
    statement = f"COPY {model._meta.db_table} ({_columns(model, names)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        try:
            with raw.copy(statement) as copy:
                yield copy
        except psycopg.IntegrityError as error:  # a duplicate id, say
            raise IntegrityError(str(error)) from None
        except psycopg.DataError as error:  # a value its column cannot hold
            raise DataError(str(error)) from None


def copy_new(
    rows: list[Resource], texts: list[str], methods: list[str], patients: list[set[str]]
) -> None:
    """Give `rows` their ids and COPY them with their version and compartment rows."""
    for row, pk in zip(rows, allocate_ids(len(rows)), strict=True):
        row.pk = pk
    current = (
        "id",
        "resource_type",
        "logical_id",
        "version",
        "last_updated",
        "deleted",
        "text",
        "patients",
    )
    copy_rows(
        Resource,
        current,
        (
            (
                r.pk,
                r.resource_type,
                r.logical_id,
                1,
                r.last_updated,
                False,
                text,
                " ".join(sorted(ids)),
            )
            for r, text, ids in zip(rows, texts, patients, strict=True)
        ),
    )
    version = (
        "resource",
        "resource_type",
        "logical_id",
        "version",
        "last_updated",
        "method",
        "deleted",
        "text",
        "patients",
    )
    copy_rows(
        ResourceVersion,
        version,
        (
            (r.pk, r.resource_type, r.logical_id, 1, r.last_updated, method, False, text, who)
            for r, text, method, who in zip(
                rows, texts, methods, (" ".join(sorted(p)) for p in patients), strict=True
            )
        ),
    )
    member = ("resource", "resource_type", "patient_id")
    copy_rows(
        CompartmentMember,
        member,
        (
            (r.pk, r.resource_type, patient)
            for r, ids in zip(rows, patients, strict=True)
            for patient in sorted(ids)
        ),
    )
