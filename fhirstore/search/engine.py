"""Run a parsed search: the matching rows as one SQL query over the index tables, one page of
them in keyset order, the included resources, and the total.

Queries per search: one for the page, one per include level, and one more when a total is due.
Totals (https://hl7.org/fhir/R4/search.html#total): a first page that holds every match carries
its exact total whatever `_total` says (counted for free), except with `_total=none`. Otherwise:
`accurate` counts (a second pass over every match, as costly as the page); `estimate` gives the
PostgreSQL planner's row estimate (no pass over the matches; SQLite counts); without `_total`
there is no total. R4's `Bundle.total` cannot say that it is an estimate, so a client that did not
ask for one never gets one, and a client that did not ask for a count does not pay for one.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import Q, QuerySet

from fhirstore.context import AccessScope
from fhirstore.errors import NotSupported
from fhirstore.models import CompartmentMember, Resource
from fhirstore.search import compiled
from fhirstore.search.access import allowed_q, check_readable
from fhirstore.search.criteria import criterion_ids, criterion_q
from fhirstore.search.includes import included_rows
from fhirstore.search.paging import (
    Boundary,
    after,
    boundary_of,
    decode_cursor,
    encode_cursor,
    ordered,
)
from fhirstore.search.request import SearchRequest, SortKey
from fhirstore.search.result import ROW_FIELDS, Row, SearchResult


def execute_search(
    *, request: SearchRequest, scope: AccessScope, compartment: tuple[str, str] | None = None
) -> SearchResult:
    """The page of `request` the caller may see; `compartment` is ("Patient", id) for
    `GET /Patient/{id}/[type]` (https://hl7.org/fhir/R4/search.html#compartments)."""
    check_readable(scope, request.searched_types)
    rows = _matches(request, scope, compartment)
    if request.summary == "count" or request.count == 0:
        total = None if request.total == "none" else _counted(request, rows)
        return SearchResult(request=request, total=total)
    context = cursor_context(request, compartment)
    boundary = decode_cursor(request.cursor, request.sort, context) if request.cursor else None
    page = _page(rows, request, boundary)
    return SearchResult(
        request=request,
        matches=page.rows,
        included=_included(request, scope, page.rows),
        total=_total(request, rows, page, boundary),
        next_cursor=_next_cursor(page, boundary, request, context),
        previous_cursor=_previous_cursor(page, boundary, request, context),
        guard_held=bool(page.rows) and isinstance(rows, _Compiled) and rows.plan.guarded,
    )


class _Matches(Protocol):
    """The matching rows, counted or fetched a page at a time in sort order."""

    def count(self) -> int: ...

    def estimate(self) -> int: ...

    def fetch(self, boundary: Boundary | None, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` rows in sort order after `boundary`: ROW_FIELDS, then the sort values."""


@dataclass(frozen=True)
class _Compiled:
    """Matches as SQL written directly (`compiled.py`): the common shapes."""

    plan: compiled.Plan

    def count(self) -> int:
        return compiled.count(self.plan)

    def estimate(self) -> int:
        return compiled.estimate(compiled.ids_sql(self.plan))

    def fetch(self, boundary: Boundary | None, limit: int) -> list[tuple[Any, ...]]:
        return compiled.fetch(self.plan, boundary, limit)


@dataclass(frozen=True)
class _Orm:
    """Matches as an ORM query: every shape."""

    rows: QuerySet[Resource]
    sort: tuple[SortKey, ...]

    def count(self) -> int:
        return self.rows.count()

    def estimate(self) -> int:
        return compiled.estimate(self.rows.values("pk").query.sql_with_params())

    def fetch(self, boundary: Boundary | None, limit: int) -> list[tuple[Any, ...]]:
        rows = ordered(self.rows, self.sort, backwards=boundary is not None and boundary.backwards)
        if boundary is not None:
            rows = rows.filter(after(boundary, self.sort))
        keys = [f"_s{n}" for n in range(len(self.sort))]
        return list(rows.values_list(*ROW_FIELDS, *keys)[:limit])


def _matches(
    request: SearchRequest, scope: AccessScope, compartment: tuple[str, str] | None
) -> _Matches:
    found = compiled.plan(request, scope, compartment)
    if found is not None:
        return _Compiled(found)
    return _Orm(matching_rows(request=request, scope=scope, compartment=compartment), request.sort)


def matching_rows(
    *, request: SearchRequest, scope: AccessScope, compartment: tuple[str, str] | None = None
) -> QuerySet[Resource]:
    """Every current resource matching the request's criteria that the caller may see."""
    types = request.searched_types
    allowed = allowed_q(scope, types)
    rows = Resource.objects.filter(allowed, deleted=False)
    if types:
        rows = rows.filter(resource_type__in=types)
    if compartment is not None:
        rows = rows.filter(_compartment_q(compartment, types))
    # Chains and _has reach other types: their rows pass the unpruned access condition.
    reach = allowed_q(scope) if any(c.path for c in request.criteria) else allowed
    nested: QuerySet[Any] | None = None
    for criterion in request.criteria:
        ids = criterion_ids(criterion, types=types)
        if ids is None:
            rows = rows.filter(criterion_q(criterion, types=types, allowed=reach))
        elif nested is None:
            nested = ids
        else:
            nested = ids.filter(resource_id__in=nested.values("resource_id"))
    if nested is not None:
        rows = rows.filter(pk__in=nested.values("resource_id"))
    return rows


def _compartment_q(compartment: tuple[str, str], types: tuple[str, ...]) -> Q:
    kind, owner = compartment
    if kind != "Patient":
        raise NotSupported(f"Compartment searches are supported for Patient, not {kind}")
    members = CompartmentMember.objects.filter(patient_id=owner)
    if types:
        members = members.filter(resource_type__in=types)
    return Q(pk__in=members.values("resource_id"))


def cursor_context(request: SearchRequest, compartment: tuple[str, str] | None) -> str:
    """What a cursor is bound to: the search it was issued for (type, compartment, criteria)."""
    criteria = sorted(f"{c.name}={c.raw}" for c in request.criteria)
    return f"{request.resource_type}|{request.types}|{compartment}|{criteria}"


def _included(request: SearchRequest, scope: AccessScope, page: list[Row]) -> list[Row]:
    """`_include`/`_revinclude` rows; without them, not even the access condition is built."""
    if not (request.includes or request.revincludes):
        return []
    return included_rows(
        page=page,
        includes=request.includes,
        revincludes=request.revincludes,
        allowed=allowed_q(scope),
    )


@dataclass(frozen=True)
class _Page:
    """A page of rows, whether more lie beyond it (in the paging direction), and its two ends."""

    rows: list[Row]
    more: bool
    head: Boundary | None = None
    tail: Boundary | None = None


def _page(rows: _Matches, request: SearchRequest, boundary: Boundary | None) -> _Page:
    backwards = boundary is not None and boundary.backwards
    fetched = rows.fetch(boundary, request.count + 1)
    more = len(fetched) > request.count
    fetched = fetched[: request.count]
    if backwards:
        fetched.reverse()
    if not fetched:
        return _Page(rows=[], more=more)
    return _Page(
        rows=[Row(*values[:4]) for values in fetched],
        more=more,
        head=boundary_of(fetched[0], backwards=True),
        tail=boundary_of(fetched[-1], backwards=False),
    )


def _next_cursor(
    page: _Page, boundary: Boundary | None, request: SearchRequest, context: str
) -> str | None:
    came_back = boundary is not None and boundary.backwards
    if page.tail is None or not (page.more or came_back):
        return None
    return encode_cursor(page.tail, request.sort, context)


def _previous_cursor(
    page: _Page, boundary: Boundary | None, request: SearchRequest, context: str
) -> str | None:
    if page.head is None or boundary is None or (boundary.backwards and not page.more):
        return None
    return encode_cursor(page.head, request.sort, context)


def _total(
    request: SearchRequest, rows: _Matches, page: _Page, boundary: Boundary | None
) -> int | None:
    if request.total == "none":
        return None
    if boundary is None and not page.more:
        return len(page.rows)
    return _counted(request, rows) if request.total else None


def _counted(request: SearchRequest, rows: _Matches) -> int:
    return rows.estimate() if request.total == "estimate" else rows.count()
