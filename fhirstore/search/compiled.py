"""Searches of the common shapes as SQL written directly, without the ORM on the hot path.

Building and compiling the ORM query of a two-criterion search costs a web worker more CPU than
the database spends answering it, so `plan` renders the statement `engine.matching_rows` would
build, in the same shape: the index-row conditions come from the same `filter_*` functions (their
`Q` objects rendered here lookup by lookup, with the backend's own operators), nested as the
engine nests them, under the same access condition. Two shapes get their own statements, with
the same matches in the same order: a search pinned to one patient starts from that patient's
rows and probes them for the other criteria (`_probed_sql`), and a token search sorted newest
first by its type's principal date walks the token index (`walk.py`). Shapes not covered get
None and the engine builds the ORM query: chains, `_has`, `:not`, `:missing`, composites, `_id`
and `_lastUpdated` criteria, granular scopes, `_sort` on non-date parameters, and searches over
several types.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial, reduce
from operator import or_
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model, Q

from fhirstore.context import AccessScope
from fhirstore.models import CompartmentMember, Resource
from fhirstore.models.index import MAX_DATE, MIN_DATE, SearchDate
from fhirstore.prepared import prepared_cursor
from fhirstore.search import walk
from fhirstore.search.criteria import index_table, row_param
from fhirstore.search.indexer import SORT_SUFFIX
from fhirstore.search.latest import principal_date
from fhirstore.search.paging import Boundary, db_datetime, db_instant, ties_descending
from fhirstore.search.request import Criterion, SearchRequest, SortKey
from fhirstore.search.result import ROW_FIELDS, ROW_SQL
from fhirstore.search.walk import Walk

Sql = tuple[str, list[Any]]
Query = tuple[str, Sequence[Any]]
_RESOURCE = Resource._meta.db_table
_MEMBERS = CompartmentMember._meta.db_table
_DATES = SearchDate._meta.db_table
_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "startswith", "contains")


@dataclass(frozen=True)
class Plan:
    """A search as SQL over `fhirstore_resource` (alias `r`): the matching rows' condition, the
    joins the sort reads, and one sort expression per `_sort` key (each with its params)."""

    where: Sql
    joins: Sql = ("", [])
    keys: tuple[Sql, ...] = ()
    sort: tuple[SortKey, ...] = field(default=())
    # The caller's credentials are checked in `where` (AccessScope.guard): a row proves them.
    guarded: bool = False
    # Pinned to one patient's record: the rows it reads are bounded whatever the values.
    pinned: bool = False
    # A token search sorted newest first: pages walk the token index (`walk.py`).
    walk: Walk | None = None


def plan(
    request: SearchRequest, scope: AccessScope, compartment: tuple[str, str] | None
) -> Plan | None:
    """The search as SQL, or None when its shape is one the ORM query builder must handle."""
    types = request.searched_types
    if len(types) != 1 or scope.filters_for(types[0]):
        return None
    if compartment is not None and compartment[0] != "Patient":
        return None
    pin = (
        None
        if compartment is not None
        else next(filter(_names_one_patient, request.criteria), None)
    )
    pinned = compartment is not None or pin is not None
    if pinned:
        criteria = _probed_sql(request.criteria, types[0], pin, compartment)
    else:
        criteria = _criteria_sql(request.criteria, types[0])
    sort = _sort_sql(request.sort)
    if criteria is None or sort is None:
        return None
    parts = [('NOT r."deleted" AND r."resource_type" = %s', [types[0]])]
    parts.append(_allowed_sql(scope, types[0]))
    if scope.guard is not None:
        parts.append((scope.guard.sql, list(scope.guard.params)))
    return Plan(
        where=_joined([*parts, criteria], " AND "),
        joins=sort[0],
        keys=sort[1],
        sort=request.sort,
        guarded=scope.guard is not None,
        pinned=pinned,
        walk=None if pinned else _walk(request, types[0], parts),
    )


def _walk(request: SearchRequest, resource_type: str, parts: list[Sql]) -> Walk | None:
    """The index walk (`walk.py`) of a token search sorted newest first by the type's
    principal date; `parts` are the conditions besides the criteria."""
    if len(request.sort) != 1 or not request.sort[0].descending:
        return None
    if request.sort[0].code != principal_date(resource_type):
        return None
    driver = next((c for c in request.criteria if _drives(c)), None)
    if driver is None:
        return None
    rows = _row_condition(driver, resource_type, "t")
    probes = _probes(request.criteria, resource_type, 'c."resource_id"', skip=driver)
    if rows is None or probes is None:
        return None
    return Walk(driver=rows[1], rest=_joined([*parts, *probes], " AND "))


def _drives(criterion: Criterion) -> bool:
    return criterion.type == "token" and not criterion.path and not criterion.modifier


def _names_one_patient(criterion: Criterion) -> bool:
    return (
        criterion.code in ("patient", "subject")
        and not criterion.path
        and not criterion.modifier
        and len(criterion.values) == 1
    )


def _cursor(found: Plan) -> Any:
    """A prepared statement's cursor for a search pinned to one patient, else a plain one.

    Planning costs a patient's search more than running it, and as it reads a bounded number
    of rows whatever the values, the one generic plan PostgreSQL settles on for a prepared
    statement serves them all. Other searches' best plan depends on how many rows their values
    match (a common code against a rare one), and a generic plan chosen for one made the
    body-weight search 4x slower: PostgreSQL plans those each time (but for the rounds of an
    index walk, `walk.py`, which are bounded too)."""
    return prepared_cursor() if found.pinned else connection.cursor()


def count(found: Plan) -> int:
    """How many rows match (the ORM's `rows.count()`)."""
    with _cursor(found) as cursor:
        cursor.execute(*count_sql(found))
        return int(cursor.fetchone()[0])


def count_sql(found: Plan) -> Sql:
    sql, params = found.where
    return f"SELECT COUNT(*) FROM {_RESOURCE} r WHERE {sql}", params


def ids_sql(found: Plan) -> Sql:
    sql, params = found.where
    return f'SELECT r."id" FROM {_RESOURCE} r WHERE {sql}', params


def estimate(query: Query) -> int:
    """The PostgreSQL planner's estimate of how many rows the SELECT `query` gives (planned,
    not run); elsewhere (SQLite) the exact count."""
    sql, params = query
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) q", params)
            return int(cursor.fetchone()[0])
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def fetch(found: Plan, boundary: Boundary | None, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` rows in sort order after `boundary` (before it when going back), as the
    tuples `engine` pages: ROW_FIELDS, then the sort values."""
    if found.walk is not None:
        return walk.fetch(found.walk, boundary, limit, partial(_fetch, found))
    return _fetch(found, boundary, limit)


def _fetch(found: Plan, boundary: Boundary | None, limit: int) -> list[tuple[Any, ...]]:
    backwards = boundary is not None and boundary.backwards
    keys = [sql for sql, _ in found.keys]
    selected = "".join(f', {sql} AS "_s{n}"' for n, sql in enumerate(keys))
    where = _joined([found.where, _after_sql(found, boundary)], " AND ")
    order = [f'"_s{n}" {_direction(k.descending != backwards)}' for n, k in enumerate(found.sort)]
    order.append(f'r."id" {_direction(ties_descending(found.sort) != backwards)}')
    sql = (
        f"SELECT {ROW_SQL}{selected} FROM {_RESOURCE} r {found.joins[0]} WHERE {where[0]}"
        f" ORDER BY {', '.join(order)} LIMIT %s"
    )
    params = [p for _, key_params in found.keys for p in key_params]
    params += found.joins[1] + where[1] + [limit]
    with _cursor(found) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if connection.vendor == "sqlite" and keys:
        return [_sqlite_row(values, found.sort) for values in rows]
    return rows


def _direction(descending: bool) -> str:
    return "DESC" if descending else "ASC"


def _sqlite_row(values: tuple[Any, ...], sort: tuple[SortKey, ...]) -> tuple[Any, ...]:
    """SQLite hands back date-times as text; the ORM would have converted the sort values."""
    keys = zip(values[len(ROW_FIELDS) :], sort, strict=True)
    return values[: len(ROW_FIELDS)] + tuple(
        db_instant(value) if key.code != "_id" else value for value, key in keys
    )


def _joined(parts: list[Sql], glue: str) -> Sql:
    present = [(sql, params) for sql, params in parts if sql]
    return glue.join(sql for sql, _ in present), [p for _, params in present for p in params]


# --- the condition ---------------------------------------------------------------------------


def _allowed_sql(scope: AccessScope, resource_type: str) -> Sql:
    """`access.allowed_q` for one readable type without granular filters (an open type is
    readable whole)."""
    if scope.patient_ids is None or resource_type in scope.open_types:
        return "", []
    if not scope.patient_ids:
        return "1 = 0", []  # no patients: nothing (and `IN ()` is no SQL on PostgreSQL)
    patients = sorted(scope.patient_ids)
    marks = ", ".join(["%s"] * len(patients))
    sql = (
        f'r."id" IN (SELECT m."resource_id" FROM {_MEMBERS} m'
        f' WHERE m."patient_id" IN ({marks}) AND m."resource_type" = %s)'
    )
    return sql, [*patients, resource_type]


def _probed_sql(
    criteria: tuple[Criterion, ...],
    resource_type: str,
    pin: Criterion | None,
    compartment: tuple[str, str] | None,
) -> Sql | None:
    """A search pinned to one patient: their rows (the compartment's members, or the index rows
    of the `pin` criterion) drive, and each other criterion is checked on those rows alone, by
    a probe of its index rows for that `resource_id`, before any resource row is read (a
    vital-signs page read 417 buffers where probing the resource rows read 541).

    On PostgreSQL an `OFFSET 0` keeps each check a per-row probe: a prepared statement's
    generic plan knows no values, and once took `category=vital-signs` for a rare code and
    scanned its 49,850 rows (43 ms) to keep a patient's 45."""
    if pin is not None:
        driver_alias = f"i{next(n for n, c in enumerate(criteria) if c is pin)}"
        driver = _rows_sql(pin, resource_type, driver_alias)
    elif compartment is not None:
        driver_alias = "c"
        driver = (
            f'SELECT c."resource_id" FROM {_MEMBERS} c'
            ' WHERE c."patient_id" = %s AND c."resource_type" = %s',
            [compartment[1], resource_type],
        )
    else:
        return None
    if driver is None:
        return None
    probes = _probes(criteria, resource_type, f'{driver_alias}."resource_id"', skip=pin)
    if probes is None:
        return None
    rows, params = _joined([driver, *probes], " AND ")
    return f'r."id" IN ({rows})', params


def _probes(
    criteria: tuple[Criterion, ...], resource_type: str, row: str, skip: Criterion | None
) -> list[Sql] | None:
    """Each criterion but `skip` as a probe of its index rows for the resource id `row` names,
    or None if one is not a plain criterion. On PostgreSQL an `OFFSET 0` keeps each a per-row
    probe in any plan (see `_probed_sql`)."""
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    probes: list[Sql] = []
    for n, criterion in enumerate(criteria):
        if criterion is skip:
            continue
        found = _row_condition(criterion, resource_type, f"i{n}")
        if found is None:
            return None
        model, (sql, params) = found
        probe = (
            f"EXISTS (SELECT 1 FROM {model._meta.db_table} i{n}"
            f' WHERE i{n}."resource_id" = {row} AND {sql}{fence})'
        )
        probes.append((probe, params))
    return probes


def _criteria_sql(criteria: tuple[Criterion, ...], resource_type: str) -> Sql | None:
    """The criteria as nested semi-joins on their index rows (`engine.matching_rows`)."""
    nested: Sql | None = None
    for n, criterion in enumerate(criteria):
        rows = _rows_sql(criterion, resource_type, f"i{n}")
        if rows is None:
            return None
        if nested is not None:
            rows = (f'{rows[0]} AND i{n}."resource_id" IN ({nested[0]})', rows[1] + nested[1])
        nested = rows
    if nested is None:
        return "", []
    return f'r."id" IN ({nested[0]})', nested[1]


def _rows_sql(criterion: Criterion, resource_type: str, alias: str) -> Sql | None:
    """`SELECT resource_id` of the index rows matching a plain criterion (`criteria.py`)."""
    found = _row_condition(criterion, resource_type, alias)
    if found is None:
        return None
    model, (sql, params) = found
    return f'SELECT {alias}."resource_id" FROM {model._meta.db_table} {alias} WHERE {sql}', params


def _row_condition(
    criterion: Criterion, resource_type: str, alias: str
) -> tuple[type[Model], Sql] | None:
    """The index table of a plain criterion and the condition its matching rows meet."""
    if criterion.path or criterion.code in ("_id", "_lastUpdated") or criterion.type == "composite":
        return None
    if criterion.modifier in ("not", "missing"):
        return None
    model, row_filter = index_table(criterion)
    conditions = [row_filter(value=v, modifier=criterion.modifier) for v in criterion.values]
    values = q_sql(reduce(or_, conditions), model, alias)
    if values is None:
        return None
    sql = f'{alias}."resource_type" = %s AND ({values[0]}) AND {alias}."param" = %s'
    return model, (sql, [resource_type, *values[1], row_param(criterion)])


def q_sql(q: Q, model: type[Model], alias: str) -> Sql | None:
    """A filter's `Q` on `model`'s columns as SQL, or None if it uses anything beyond plain
    lookups (then the ORM renders it)."""
    if q.negated:
        return None
    parts = []
    for child in q.children:
        part = (
            q_sql(child, model, alias) if isinstance(child, Q) else _lookup_sql(child, model, alias)
        )
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return "1 = 1", []
    sql, params = _joined(parts, f" {q.connector} ")
    return f"({sql})", params


def _lookup_sql(child: Any, model: type[Model], alias: str) -> Sql | None:
    key, value = child
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    if lookup not in (*_LOOKUPS, "in") or "__" in lookup:
        return None
    try:
        column = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not isinstance(column, Field):
        return None
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: each `connection.x` costs a context-local one
    lhs = db.ops.lookup_cast(lookup, column.get_internal_type()) % f'{alias}."{column.column}"'
    if lookup == "in":
        items = [column.get_db_prep_value(item, db) for item in value]
        return (f"{lhs} IN ({', '.join(['%s'] * len(items))})", items) if items else ("1 = 0", [])
    prepared = column.get_db_prep_value(value, db)
    if lookup in ("startswith", "contains"):
        escaped = db.ops.prep_for_like_query(prepared)
        prepared = f"{escaped}%" if lookup == "startswith" else f"%{escaped}%"
    return f"{lhs} {db.operators[lookup] % '%s'}", [prepared]


# --- sorting and keyset paging ---------------------------------------------------------------


def _sort_sql(keys: tuple[SortKey, ...]) -> tuple[Sql, tuple[Sql, ...]] | None:
    """The joins and sort expressions of `paging.ordered`; None for non-date parameters."""
    joins: list[Sql] = []
    expressions: list[Sql] = []
    for n, key in enumerate(keys):
        if key.code == "_lastUpdated":
            expressions.append(('r."last_updated"', []))
        elif key.code == "_id":
            expressions.append(('r."logical_id"', []))
        elif key.type == "date":
            joins.append(_sort_join(f"j{n}", key))
            column = "high" if key.descending else "low"
            missing = db_datetime(MIN_DATE if key.descending else MAX_DATE)
            expressions.append((f'COALESCE(j{n}."{column}", %s)', [missing]))
        else:
            return None
    return _joined(joins, " "), tuple(expressions)


def _sort_join(alias: str, key: SortKey) -> Sql:
    sql = (
        f"LEFT OUTER JOIN {_DATES} {alias}"
        f' ON (r."id" = {alias}."resource_id" AND {alias}."param" = %s)'
    )
    return sql, [key.code + SORT_SUFFIX]


def _after_sql(found: Plan, boundary: Boundary | None) -> Sql:
    """`paging.after`: rows strictly beyond the boundary in the sort order."""
    if boundary is None:
        return "", []
    names = [*found.keys, ('r."id"', [])]
    descending = [key.descending for key in found.sort] + [ties_descending(found.sort)]
    values = [*map(_boundary_param, boundary.values), boundary.pk]
    branches: list[Sql] = []
    for n, (expression, expression_params) in enumerate(names):
        equal = [(f"{names[m][0]} = %s", [*names[m][1], values[m]]) for m in range(n)]
        op = "<" if descending[n] != boundary.backwards else ">"
        branches.append(
            _joined([*equal, (f"{expression} {op} %s", [*expression_params, values[n]])], " AND ")
        )
    sql, params = _joined([(f"({sql})", p) for sql, p in branches], " OR ")
    return f"({sql})", params


def _boundary_param(value: Any) -> Any:
    return db_datetime(value) if isinstance(value, datetime) else value
