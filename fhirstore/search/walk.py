"""Token searches sorted newest first by the type's principal date, read in index order.

`Observation?code=http://loinc.org|29463-7&date=ge2015-01-01&_sort=-date`: the token index ends
with each row's principal date (`latest.py`), so the rows of one code come newest first from one
backward range scan (rows of the same instant are put in id order as they come). A round takes the
next `window` rows of that range (the candidates) and keeps those that also meet the other
conditions (other criteria, access, not deleted), in a statement whose candidate subquery is
limited, so that PostgreSQL cannot trade the walk for a join over every match. Each other
criterion is a probe of its index rows for one candidate (`compiled._probes`), so the statement
reads a bounded number of rows whatever its values, and it is prepared: planned once per
connection, where planning it cost more than running it (bench/RESULTS.md, "Sixth session").
One round is enough when the other conditions keep most candidates, as usual; otherwise the
window doubles from where the last round stopped, and after `ROUNDS` rounds the rest of the
page comes from the general plan (`compiled.fetch`), which the planner answers from the index
tables as it sees fit. A page therefore reads about as many index rows as it returns, however
many resources carry the code.

The order is the general plan's: the principal date's latest instant descending (MIN_DATE for
none, so last), then the resource id descending (`paging.ties_descending`); the same boundaries
page both ways.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from fhirstore.models import Resource, SearchToken
from fhirstore.prepared import prepared_cursor
from fhirstore.search.paging import Boundary, db_datetime, db_instant
from fhirstore.search.result import ROW_SQL

Sql = tuple[str, list[Any]]
Row = tuple[Any, ...]
ROUNDS = 4
_TOKENS = SearchToken._meta.db_table
_RESOURCE = Resource._meta.db_table


@dataclass(frozen=True)
class Walk:
    """The driving criterion's condition on token rows (alias `t`) and everything else the
    matches must meet, on `fhirstore_resource` (alias `r`)."""

    driver: Sql
    rest: Sql


def fetch(
    walk: Walk,
    boundary: Boundary | None,
    limit: int,
    general: Callable[[Boundary | None, int], list[Row]],
) -> list[Row]:
    """Up to `limit` rows after `boundary` (before it going back), as `compiled.fetch` gives
    them; `general` is that fetch, for what is left after ROUNDS rounds."""
    backwards = boundary is not None and boundary.backwards
    point = None if boundary is None else (boundary.values[0], boundary.pk)
    found: list[Row] = []
    window = limit + max(2, limit // 10)  # a few spare candidates for the few dropped
    for done in range(1, ROUNDS + 1):
        rows, last = _round(walk, point, window, backwards)
        found.extend(row for row in rows if not found or row[0] != found[-1][0])
        if len(found) >= limit:
            return found[:limit]
        if last is None:  # fewer candidates than the window: the range is exhausted
            return found
        if done == ROUNDS:
            rest = Boundary(values=(last[0],), pk=last[1], backwards=backwards)
            return found + general(rest, limit - len(found))
        point, window = last, window * 2
    raise AssertionError("ROUNDS must be at least 1")


def _round(
    walk: Walk, point: tuple[Any, int] | None, window: int, backwards: bool
) -> tuple[list[Row], tuple[Any, int] | None]:
    """The rows among the next `window` candidates after `point`, in walk order, and the last
    candidate when there were `window` of them (None: the range ends in this round).

    One statement: the kept rows, then a marker row (id and date of the last candidate, and the
    number of candidates), so that a round whose candidates are all dropped, or that finds
    none, costs no second round trip."""
    with prepared_cursor() as cursor:
        cursor.execute(*round_sql(walk, point, window, backwards))
        rows = cursor.fetchall()
    kept = [row[:4] + (db_instant(row[4]),) for row in rows if not row[5]]
    kept.sort(key=lambda row: (row[4], row[0]), reverse=not backwards)
    marker = next((row for row in rows if row[5]), None)
    if marker is None or marker[5] < window:
        return kept, None
    return kept, (db_instant(marker[4]), marker[0])


def round_sql(walk: Walk, point: tuple[Any, int] | None, window: int, backwards: bool) -> Sql:
    """A round's statement: the kept rows, then the marker row (`_round`)."""
    candidates, params = _candidates(walk, point, window, backwards)
    last = f"SELECT * FROM c ORDER BY {_order('c', not backwards)} LIMIT 1"
    sql = (
        f"WITH c AS ({candidates})"
        f" SELECT {ROW_SQL}, {_high('c')}, 0 FROM c"
        f' JOIN {_RESOURCE} r ON r."id" = c."resource_id" WHERE {walk.rest[0]}'
        f' UNION ALL SELECT m."resource_id", NULL, NULL, NULL, {_high("m")},'
        f" (SELECT COUNT(*) FROM c) FROM ({last}) m"
    )
    return sql, params + walk.rest[1]


def _candidates(walk: Walk, point: tuple[Any, int] | None, window: int, backwards: bool) -> Sql:
    where, params = walk.driver
    if point is not None:
        where += f' AND (t."sort_high", t."resource_id") {">" if backwards else "<"} (%s, %s)'
        params = [*params, db_datetime(point[0]), point[1]]
    sql = (
        f'SELECT t."resource_id", t."sort_high" FROM {_TOKENS} t WHERE {where}'
        f" ORDER BY {_order('t', backwards)} LIMIT %s"
    )
    return sql, [*params, window]


def _high(alias: str) -> str:
    """The candidate's date; PostgreSQL's text for a timestamp parses ten times faster than its
    driver's datetimes."""
    column = f'{alias}."sort_high"'
    return f"CAST({column} AS text)" if connection.vendor == "postgresql" else column


def _order(alias: str, backwards: bool) -> str:
    direction = "ASC" if backwards else "DESC"
    return f'{alias}."sort_high" {direction}, {alias}."resource_id" {direction}'
