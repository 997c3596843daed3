"""Sorting and keyset paging of search results.

Each `_sort` key becomes one value per resource, taken from the index rows: the earliest `low`
(ascending) or latest `high` (descending) for dates, read from the one `<param>:sort` row the
indexer writes per date parameter (a join, not an aggregate per matched row), the smallest or
largest value for the other types (a subquery per row); `_lastUpdated` and `_id` come from the
resource row. The resource's primary key breaks ties, in the last key's direction (so that
the index that walks a newest-first date walks its ties too, `walk.py`),
so the order is total and a page boundary is a point, not an offset: rows written after the first
page was served can appear on later pages in their place but never shift or repeat others.
A resource without the value sorts last for dates and numbers, and as "" for text (first
ascending). Cursors carry the boundary, signed and time-limited with `django.core.signing`.
https://hl7.org/fhir/R4/search.html#sort
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.core import signing
from django.db import connection
from django.db.models import F, FilteredRelation, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import Expression
from django.db.models.functions import Coalesce
from django.utils.timezone import make_aware

from fhirstore import conf
from fhirstore.errors import InvalidRequest
from fhirstore.models import Resource
from fhirstore.models.index import (
    MAX_DATE,
    MIN_DATE,
    SearchDate,
    SearchNumber,
    SearchQuantity,
    SearchReference,
    SearchString,
    SearchToken,
    SearchUri,
)
from fhirstore.search.indexer import SORT_SUFFIX
from fhirstore.search.request import SortKey

_SALT = "fhirstore.search.cursor"
_BIG = 1e300
# (table, ascending column, descending column, value when missing ascending / descending)
_SORT_COLUMNS: dict[str, tuple[Any, str, str, Any, Any]] = {
    "date": (SearchDate, "low", "high", MAX_DATE, MIN_DATE),
    "string": (SearchString, "value", "value", "", ""),
    "token": (SearchToken, "code", "code", "", ""),
    "uri": (SearchUri, "value", "value", "", ""),
    "reference": (SearchReference, "target_id", "target_id", "", ""),
    "number": (SearchNumber, "value", "value", _BIG, -_BIG),
    "quantity": (SearchQuantity, "value", "value", _BIG, -_BIG),
}


@dataclass(frozen=True)
class Boundary:
    """Where a page starts: after (or, going back, before) this row's sort values."""

    values: tuple[Any, ...]
    pk: int
    backwards: bool = False


def sort_expression(key: SortKey, join: str | None = None) -> Expression | F:
    """One comparable value per resource for `key` (never NULL, see the module docstring);
    `join` names the date key's `:sort` row joined by `sort_joins`."""
    if key.code == "_lastUpdated":
        return F("last_updated")
    if key.code == "_id":
        return F("logical_id")
    model, asc_column, desc_column, asc_missing, desc_missing = _SORT_COLUMNS[key.type]
    if join is not None:
        column = f"{join}__{desc_column if key.descending else asc_column}"
        return Coalesce(F(column), Value(desc_missing if key.descending else asc_missing))
    column = desc_column if key.descending else asc_column
    rows = model.objects.filter(resource_id=OuterRef("pk"), param=key.code)
    first = rows.order_by(f"-{column}" if key.descending else column).values(column)[:1]
    return Coalesce(Subquery(first), Value(desc_missing if key.descending else asc_missing))


def ordered(
    rows: QuerySet[Resource], keys: tuple[SortKey, ...], *, backwards: bool = False
) -> QuerySet[Resource]:
    """`rows` annotated with `_s0`.. and ordered by the keys then pk (reversed going back)."""
    joins = sort_joins(keys)
    if joins:
        rows = rows.annotate(**joins)
    rows = rows.annotate(
        **{f"_s{n}": sort_expression(key, _join_name(n, joins)) for n, key in enumerate(keys)}
    )
    order = [f"{'-' if key.descending != backwards else ''}_s{n}" for n, key in enumerate(keys)]
    return rows.order_by(*order, "-pk" if ties_descending(keys) != backwards else "pk")


def ties_descending(keys: tuple[SortKey, ...]) -> bool:
    """Whether the primary key breaks ties descending: when the last sort key descends."""
    return bool(keys) and keys[-1].descending


def sort_joins(keys: tuple[SortKey, ...]) -> dict[str, FilteredRelation]:
    """A LEFT JOIN per date key to the resource's single `<param>:sort` row (MIN(low) ..
    MAX(high), written by the indexer), so sorting reads one joined row per match instead of
    aggregating its date rows in a subquery per match."""
    return {
        f"_j{n}": FilteredRelation(
            "search_dates", condition=Q(search_dates__param=key.code + SORT_SUFFIX)
        )
        for n, key in enumerate(keys)
        if key.type == "date" and key.code not in ("_lastUpdated", "_id")
    }


def _join_name(n: int, joins: dict[str, FilteredRelation]) -> str | None:
    return f"_j{n}" if f"_j{n}" in joins else None


def after(boundary: Boundary, keys: tuple[SortKey, ...]) -> Q:
    """Rows strictly after the boundary in the sort order (before it when going back)."""
    names = [f"_s{n}" for n in range(len(keys))] + ["pk"]
    descending = [key.descending for key in keys] + [ties_descending(keys)]
    values = [*boundary.values, boundary.pk]
    branches = []
    for n, name in enumerate(names):
        equal = {names[m]: values[m] for m in range(n)}
        op = "lt" if descending[n] != boundary.backwards else "gt"
        branches.append(Q(**equal, **{f"{name}__{op}": values[n]}))
    return reduce(or_, branches)


def boundary_of(row: tuple[Any, ...], *, backwards: bool) -> Boundary:
    """The boundary at a fetched row: (pk, resource_type, logical_id, text, sort values...)."""
    return Boundary(values=tuple(row[4:]), pk=row[0], backwards=backwards)


def _signature(keys: tuple[SortKey, ...], context: str) -> str:
    spec = ",".join(f"{'-' if k.descending else ''}{k.code}" for k in keys) + "|" + context
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def encode_cursor(boundary: Boundary, keys: tuple[SortKey, ...], context: str) -> str:
    """An opaque, signed cursor; `context` ties it to the search it came from."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in boundary.values]
    payload = {
        "v": values,
        "k": boundary.pk,
        "b": boundary.backwards,
        "s": _signature(keys, context),
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


def decode_cursor(cursor: str, keys: tuple[SortKey, ...], context: str) -> Boundary:
    """The boundary in a cursor; a tampered, expired or foreign one is a 400."""
    max_age = conf.cursor_max_age()
    try:
        payload = signing.loads(cursor, salt=_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise InvalidRequest("The paging cursor has expired; start the search again") from None
    except signing.BadSignature:
        raise InvalidRequest("The paging cursor is not valid", expression=("_cursor",)) from None
    if payload.get("s") != _signature(keys, context) or len(payload["v"]) != len(keys):
        raise InvalidRequest("The paging cursor belongs to another search", expression=("_cursor",))
    values = tuple(_restore(v, key) for v, key in zip(payload["v"], keys, strict=True))
    return Boundary(values=values, pk=int(payload["k"]), backwards=bool(payload["b"]))


def _restore(value: Any, key: SortKey) -> Any:
    if key.type == "date" and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def db_datetime(value: datetime) -> Any:
    """A sort value or boundary date-time as the database takes it (SQLite stores text)."""
    return SearchDate._meta.get_field("low").get_db_prep_value(value, connection)


def db_instant(value: Any) -> Any:
    """A date-time the database handed back, as an aware datetime: PostgreSQL's text for a
    timestamp, SQLite's text or naive datetime; anything else as it is."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return make_aware(value, connection.timezone)
    return value
