"""Write-time search indexing: a resource's JSON in, its rows in the index tables out.

For each parameter of the resource's type the compiled expression (`registry.compiled_for`)
extracts element values and the parameter type's module (`types/<type>.py`) turns them into
rows. Composite parameters index each component's values as ordinary rows with param
"<code>$<n>" and a `group_no` shared by the components of one element (see
`fhirstore/models/index.py`). Rows are written with one multi-row INSERT per table that has
rows (chunked under the database's parameter limit; batches use COPY on PostgreSQL). The
repository calls this inside its write transaction, so rows always describe the current,
non-deleted version.
"""

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Any

from django.db import connection

from fhirstore.models import Resource
from fhirstore.models.index import (
    INDEX_TABLES,
    IndexRow,
    SearchDate,
    SearchNumber,
    SearchQuantity,
    SearchReference,
    SearchString,
    SearchToken,
    SearchUri,
)
from fhirstore.search import registry
from fhirstore.search.fhirpath import Extractor, Item
from fhirstore.search.types import date, number, quantity, reference, string, token, uri

SORT_SUFFIX = ":sort"
RowMaker = Callable[[list[Item]], list[tuple[Any, ...]]]
Rows = dict[type[IndexRow], list[tuple[Any, ...]]]
TYPES: dict[str, tuple[type[IndexRow], RowMaker]] = {
    "token": (SearchToken, token.rows),
    "string": (SearchString, string.rows),
    "date": (SearchDate, date.rows),
    "reference": (SearchReference, reference.rows),
    "quantity": (SearchQuantity, quantity.rows),
    "number": (SearchNumber, number.rows),
    "uri": (SearchUri, uri.rows),
}
COLUMNS: dict[type[IndexRow], tuple[str, ...]] = {
    SearchToken: token.COLUMNS,
    SearchString: string.COLUMNS,
    SearchDate: date.COLUMNS,
    SearchReference: reference.COLUMNS,
    SearchQuantity: quantity.COLUMNS,
    SearchNumber: number.COLUMNS,
    SearchUri: uri.COLUMNS,
}
# Extra token rows some parameters carry for modifiers (see the model module's docstring).
_EXTRA_TOKENS: dict[str, tuple[str, RowMaker]] = {
    "token": (":of-type", token.of_type_rows),
    "reference": (":identifier", reference.identifier_rows),
}


@dataclass(frozen=True)
class Part:
    """One row-producing step: values of `extract` into `table` rows under `param`."""

    param: str
    table: type[IndexRow]
    make: RowMaker
    extract: Extractor


@dataclass(frozen=True)
class CompositePlan:
    """A composite parameter: elements from `extract`, components extracted from each element."""

    extract: Extractor
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    composites: tuple[CompositePlan, ...]


def index_resource(*, resource: Resource, doc: dict) -> None:
    """Replace the index rows of `resource` with those of `doc` (its current JSON).

    A version-1 resource is new, so it has no rows to delete: creates cost only the INSERTs.
    """
    if resource.version != 1:
        unindex_resource(resource=resource)
    _insert(_with_owner(resource, rows_for(doc)))


def unindex_resource(*, resource: Resource) -> None:
    """Delete every index row of `resource` (on delete, before re-indexing)."""
    _delete([resource.pk])


def index_resources(pairs: list[tuple[Resource, dict]], *, new: bool = False) -> None:
    """Re-index a batch: one DELETE and one INSERT per table for the whole batch (on
    PostgreSQL a COPY per table, which Django's query log does not show). `new` says the
    resources were inserted in this transaction, so they have no rows to delete (bulk creates)."""
    if not new:
        _delete([resource.pk for resource, _ in pairs])
    batch: Rows = {}
    for resource, doc in pairs:
        for table, rows in _with_owner(resource, rows_for(doc)).items():
            batch.setdefault(table, []).extend(rows)
    if connection.vendor == "postgresql":
        _copy(batch)
    else:
        _insert(batch)


def _delete(ids: list[int]) -> None:
    # The FK is declared per concrete table, so the abstract base's type has no `resource_id`.
    if not ids:
        return
    lookup: dict[str, object] = (
        {"resource_id": ids[0]} if len(ids) == 1 else {"resource_id__in": ids}
    )
    for table in INDEX_TABLES:
        table._default_manager.filter(**lookup).delete()


def rows_for(doc: dict) -> Rows:
    """Index rows of `doc` by table, each row `(param, group_no, *type columns)`."""
    plan = plan_for(doc.get("resourceType", ""))
    out: Rows = {}
    for part in plan.parts:
        made = part.make(part.extract(doc, doc))
        if made:
            out.setdefault(part.table, []).extend((part.param, 0, *row) for row in made)
    group = 0
    for composite in plan.composites:
        for element in composite.extract(doc, doc):
            group += 1
            _composite_rows(composite, element, group, doc, out)
    _date_sort_rows(out)
    return out


def _date_sort_rows(out: Rows) -> None:
    """Add one `<param>:sort` row per date parameter spanning all its values, MIN(low) ..
    MAX(high): `_sort` joins this single row instead of aggregating per matched resource."""
    spans: dict[str, tuple[Any, Any]] = {}
    for param, group_no, low, high in out.get(SearchDate, ()):
        # `_lastUpdated` sorts on the resource row's own column.
        if group_no == 0 and param != "_lastUpdated":
            first, last = spans.get(param, (low, high))
            spans[param] = (min(first, low), max(last, high))
    if spans:
        sort_rows = ((param + SORT_SUFFIX, 0, low, high) for param, (low, high) in spans.items())
        out[SearchDate].extend(sort_rows)


def _composite_rows(
    composite: CompositePlan, element: Item, group: int, doc: dict, out: Rows
) -> None:
    """Rows of one composite element, only when every component has a value (else none match)."""
    made = [part.make(part.extract(element[0], doc)) for part in composite.parts]
    if not all(made):
        return
    for part, rows in zip(composite.parts, made, strict=True):
        out.setdefault(part.table, []).extend((part.param, group, *row) for row in rows)


@cache
def plan_for(resource_type: str) -> Plan:
    """What to extract for `resource_type`, compiled once per process."""
    compiled, _ = registry.compiled_for(resource_type)
    parts: list[Part] = []
    composites: list[CompositePlan] = []
    for item in compiled:
        kind = item.param.type
        if kind == "composite":
            composites.append(_composite_plan(item))
            continue
        table, make = TYPES[kind]
        parts.append(Part(item.param.code, table, make, item.extract))
        if kind in _EXTRA_TOKENS:
            suffix, extra = _EXTRA_TOKENS[kind]
            parts.append(Part(item.param.code + suffix, SearchToken, extra, item.extract))
    return Plan(parts=tuple(parts), composites=tuple(composites))


def _composite_plan(item: registry.Compiled) -> CompositePlan:
    parts = []
    for position, (component, extract) in enumerate(item.parts):
        table, make = TYPES[component.type]
        parts.append(Part(f"{item.param.code}${position}", table, make, extract))
    return CompositePlan(extract=item.extract, parts=tuple(parts))


def _with_owner(resource: Resource, rows: Rows) -> Rows:
    prefix = (resource.pk, resource.resource_type)
    return {table: [prefix + row for row in table_rows] for table, table_rows in rows.items()}


def _insert(rows: Rows) -> None:
    """One multi-row INSERT per table (chunked under the backend's parameter limit)."""
    if not rows:
        return
    with connection.cursor() as cursor:
        for table, table_rows in rows.items():
            columns = ("resource_id", "resource_type", "param", "group_no", *COLUMNS[table])
            for chunk in _chunks(_adapted(table, table_rows), _chunk_size(len(columns))):
                cursor.execute(*_statement(table, columns, chunk))


def _copy(rows: Rows) -> None:
    """PostgreSQL COPY, about three times the rate of multi-row INSERTs for bulk loads."""
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        for table, table_rows in rows.items():
            columns = ", ".join(
                ("resource_id", "resource_type", "param", "group_no", *COLUMNS[table])
            )
            with raw.copy(f"COPY {table._meta.db_table} ({columns}) FROM STDIN") as copy:
                for row in table_rows:
                    copy.write_row(row)


def _statement(table: type[IndexRow], columns: tuple[str, ...], chunk: list[tuple]) -> tuple:
    quote = connection.ops.quote_name
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {quote(table._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([one] * len(chunk))}"
    )
    return sql, [value for row in chunk for value in row]


def _adapted(table: type[IndexRow], rows: list[tuple]) -> Iterable[tuple]:
    """Date rows through the backend's adapter (SQLite stores text), others as they are."""
    if table is not SearchDate:
        return rows
    adapt = connection.ops.adapt_datetimefield_value
    return (row[:4] + (adapt(row[4]), adapt(row[5])) for row in rows)


def _chunk_size(width: int) -> int:
    return max(1, _max_params() // width)


@cache
def _max_params() -> int:
    """Parameters one statement may bind: SQLite's compiled limit (Django assumes an old 999),
    else a bound well under PostgreSQL's 65,535."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return min(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), 30000)
    return 30000


def _chunks(rows: Iterable[tuple], size: int) -> Iterable[list[tuple]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
