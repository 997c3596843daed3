"""Write-time search indexing: a resource's JSON in, its rows in the index tables out.

For each parameter of the resource's type the compiled expression (`registry.compiled_for`)
extracts element values and the parameter type's module (`types/<type>.py`) turns them into
rows. Composite parameters index each component's values as ordinary rows with param
"<code>$<n>" and a `group_no` shared by the components of one element (see
`fhirstore/models/index.py`). Rows are written with one multi-row INSERT per table that has
rows (chunked under the database's parameter limit; batches, and one resource with many rows,
use COPY on PostgreSQL). The repository calls this inside its write transaction, so rows always
describe the current, non-deleted version.
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
    MIN_DATE,
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
from fhirstore.search.fhirpath import Extractor, Item, present_names, root_elements
from fhirstore.search.latest import principal_date
from fhirstore.search.types import date, number, quantity, reference, string, token, uri

SORT_SUFFIX = ":sort"
# Above this many rows one resource's index goes in by COPY on PostgreSQL: a multi-row INSERT
# with thousands of parameters costs more to build and parse than the extra round trip of COPY.
COPY_FROM = 200
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
    SearchToken: (*token.COLUMNS, "sort_high"),
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
    """One row-producing step: values of `extract` into `table` rows under `param`; `roots`
    (when known) are the top-level elements one of which a resource needs for any value."""

    param: str
    table: type[IndexRow]
    make: RowMaker
    extract: Extractor
    roots: frozenset[str] | None = None


@dataclass(frozen=True)
class CompositePlan:
    """A composite parameter: elements from `extract`, components extracted from each element."""

    extract: Extractor
    parts: tuple[Part, ...]
    roots: frozenset[str] | None = None


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
    rows = _with_owner(resource, rows_for(doc))
    if connection.vendor == "postgresql" and sum(map(len, rows.values())) > COPY_FROM:
        _copy(rows)  # a Provenance naming a whole Bundle's resources
    else:
        _insert(rows)


def unindex_resource(*, resource: Resource) -> None:
    """Delete every index row of `resource` (on delete, before re-indexing)."""
    _delete([resource.pk])


def index_resources(pairs: list[tuple[Resource, dict]]) -> None:
    """Re-index a batch: one DELETE and one INSERT per table for the whole batch (on
    PostgreSQL a COPY per table, which Django's query log does not show)."""
    _delete([resource.pk for resource, _ in pairs])
    index_new([(resource, rows_for(doc)) for resource, doc in pairs])


def index_new(pairs: list[tuple[Resource, Rows]]) -> None:
    """Write the rows (from `rows_for`) of resources inserted in this transaction, which have
    none to delete: one INSERT, or on PostgreSQL one COPY, per table (bulk creates)."""
    batch: Rows = {}
    for resource, rows in pairs:
        for table, table_rows in _with_owner(resource, rows).items():
            batch.setdefault(table, []).extend(table_rows)
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
    """Index rows of `doc` by table, each row `(param, group_no, *type columns)`.

    Parameters whose elements `doc` lacks are skipped unrun, and an expression several
    parameters share is evaluated once."""
    plan = plan_for(doc.get("resourceType", ""))
    present = present_names(doc)
    values: dict[int, list[Item]] = {}
    out: Rows = {}
    for part in plan.parts:
        if part.roots is None or not part.roots.isdisjoint(present):
            made = part.make(_extracted(part.extract, doc, values))
            if made:
                out.setdefault(part.table, []).extend((part.param, 0, *row) for row in made)
    group = 0
    components: dict[tuple[int, int, int], list[tuple[Any, ...]]] = {}
    for composite in plan.composites:
        if composite.roots is None or not composite.roots.isdisjoint(present):
            for element in _extracted(composite.extract, doc, values):
                group += 1
                _composite_rows(composite, element, group, doc, out, components)
    spans = _date_sort_rows(out)
    _dated_tokens(out, doc.get("resourceType", ""), spans)
    return out


def _extracted(extract: Extractor, doc: dict, values: dict[int, list[Item]]) -> list[Item]:
    """`extract(doc)`, remembered in `values` (which also keeps the items alive)."""
    items = values.get(id(extract))
    if items is None:
        items = values[id(extract)] = extract(doc, doc)
    return items


def _date_sort_rows(out: Rows) -> dict[str, tuple[Any, Any]]:
    """Add one `<param>:sort` row per date parameter spanning all its values, MIN(low) ..
    MAX(high): `_sort` joins this single row instead of aggregating per matched resource.
    Returns the spans by parameter."""
    spans: dict[str, tuple[Any, Any]] = {}
    for param, group_no, low, high in out.get(SearchDate, ()):
        # `_lastUpdated` sorts on the resource row's own column.
        if group_no == 0 and param != "_lastUpdated":
            first, last = spans.get(param, (low, high))
            spans[param] = (min(first, low), max(last, high))
    if spans:
        sort_rows = ((param + SORT_SUFFIX, 0, low, high) for param, (low, high) in spans.items())
        out[SearchDate].extend(sort_rows)
    return spans


def _dated_tokens(out: Rows, resource_type: str, spans: dict[str, tuple[Any, Any]]) -> None:
    """End every token row with the latest instant of the type's principal date (`latest.py`):
    MIN_DATE without a value, None for a type without such a date."""
    tokens = out.get(SearchToken)
    if not tokens:
        return
    principal = principal_date(resource_type)
    high = None if principal is None else spans.get(principal, (None, MIN_DATE))[1]
    out[SearchToken] = [(*row, high) for row in tokens]


def _composite_rows(
    composite: CompositePlan,
    element: Item,
    group: int,
    doc: dict,
    out: Rows,
    components: dict[tuple[int, int, int], list[tuple[Any, ...]]],
) -> None:
    """Rows of one composite element, only when every component has a value (else none match).

    `components` remembers a component's rows per element: Observation's composites share
    their elements and components (code, value)."""
    made = []
    for part in composite.parts:
        key = (id(element[0]), id(part.extract), id(part.make))
        rows = components.get(key)
        if rows is None:
            rows = components[key] = part.make(part.extract(element[0], doc))
        made.append(rows)
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
    shared: dict[str, Extractor] = {}  # one extractor per distinct expression
    for item in compiled:
        kind = item.param.type
        extract = shared.setdefault(item.param.expression, item.extract)
        roots = root_elements(item.param.expression, resource_type=resource_type)
        if kind == "composite":
            composites.append(_composite_plan(item, extract, roots, shared))
            continue
        table, make = TYPES[kind]
        parts.append(Part(item.param.code, table, make, extract, roots))
        if kind in _EXTRA_TOKENS:
            suffix, extra = _EXTRA_TOKENS[kind]
            parts.append(Part(item.param.code + suffix, SearchToken, extra, extract, roots))
    return Plan(parts=tuple(parts), composites=tuple(composites))


def _composite_plan(
    item: registry.Compiled,
    extract: Extractor,
    roots: frozenset[str] | None,
    shared: dict[str, Extractor],
) -> CompositePlan:
    parts = []
    for position, (component, own) in enumerate(item.parts):
        table, make = TYPES[component.type]
        part_extract = shared.setdefault(f"component:{component.expression}", own)
        parts.append(Part(f"{item.param.code}${position}", table, make, part_extract))
    return CompositePlan(extract=extract, parts=tuple(parts), roots=roots)


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
    """Dates through the backend's adapter (SQLite stores text), other values as they are."""
    adapt = connection.ops.adapt_datetimefield_value
    if table is SearchDate:
        return (row[:4] + (adapt(row[4]), adapt(row[5])) for row in rows)
    if table is SearchToken:
        return (row[:7] + (adapt(row[7]),) for row in rows)
    return rows


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
