"""`Patient/{id}/$everything` and `Patient/$everything`: every resource in the patient's
compartment (the patient included), plus the resources they refer to that belong to no patient
(practitioners, organisations, locations, medications), as a searchset streamed from stored text.

`_since` keeps resources updated at or after an instant, `_type` limits the types, `_count` pages
(keyset on the row id, with signed cursors as in search); without `_count` everything comes in
one streamed Bundle with bounded memory (rows are read CHUNK at a time). Referenced resources
come on the first page, as `include` entries. https://hl7.org/fhir/R4/operation-patient-everything.html
"""

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from fhirstore.compartment import compartment_paths
from fhirstore.context import AccessScope
from fhirstore.errors import NotFound
from fhirstore.models import CompartmentMember, Resource
from fhirstore.models.index import SearchReference
from fhirstore.prepared import prepared_cursor
from fhirstore.search.access import allowed_q, check_readable
from fhirstore.search.bundle import searchset_chunks
from fhirstore.search.paging import Boundary, decode_cursor, encode_cursor
from fhirstore.search.request import SearchRequest
from fhirstore.search.result import ROW_FIELDS, Row, SearchResult
from fhirstore.search.result_params import CURSOR, parse_count, parse_types
from fhirstore.search.values import parse_date_range

# Rows read per query while streaming: most compartments fit in one, and memory stays bounded.
CHUNK = 2000


def everything_chunks(
    *,
    patient_id: str | None,
    params: list[tuple[str, str]],
    scope: AccessScope,
    base_url: str,
    path: str,
) -> Iterator[bytes]:
    """The Bundle of `$everything` in pieces; errors are raised before the first piece."""
    check_readable(scope, ("Patient",))
    options = _options(params)
    if patient_id is not None:
        _check_patient(patient_id, scope)
    members = _members(patient_id, scope, options)
    rows = Resource.objects.filter(pk__in=members.values("resource_id"), deleted=False)
    rows = rows.filter(allowed_q(scope), _since_q(options)).order_by("pk")
    return _stream(rows, members, options, scope, base_url, path, patient_id)


def _values(rows: QuerySet, *, pinned: bool) -> list[tuple[Any, ...]]:
    """The rows of a `.values_list()` query, run as the ORM would run it. Pinned to one
    patient's record, whose size bounds the rows read whatever the values, the statement is
    prepared (`fhirstore.prepared`): planning cost a heavy record more PostgreSQL time than
    fetching its rows, and the ORM's row iteration more Python time than the driver's."""
    sql, params = rows.query.sql_with_params()
    with prepared_cursor() if pinned else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _options(params: list[tuple[str, str]]) -> dict[str, Any]:
    options: dict[str, Any] = {"echo": []}
    for name, raw in params:
        if name == "_since":
            options["since"] = parse_date_range(raw, "_since")[0]
        elif name == "_type":
            options["types"] = parse_types(raw)
        elif name == "_count":
            options["count"] = parse_count(raw)
        elif name == CURSOR:
            options["cursor"] = raw
            continue
        elif name not in ("_format", "_pretty", "start", "end"):
            continue
        options["echo"].append((name, raw))
    return options


def _check_patient(patient_id: str, scope: AccessScope) -> None:
    found = Resource.objects.filter(
        allowed_q(scope), resource_type="Patient", logical_id=patient_id, deleted=False
    )
    if not _values(found.values_list("pk")[:1], pinned=True):
        raise NotFound(f"Patient/{patient_id} is not known")


def _members(patient_id: str | None, scope: AccessScope, options: dict[str, Any]) -> QuerySet:
    members = CompartmentMember.objects.all()
    if patient_id is not None:
        members = members.filter(patient_id=patient_id)
    elif scope.patient_ids is not None:
        members = members.filter(patient_id__in=sorted(scope.patient_ids))
    if options.get("types"):
        members = members.filter(resource_type__in=options["types"])
    return members


def _since_q(options: dict[str, Any]) -> Q:
    return Q(last_updated__gte=options["since"]) if "since" in options else Q()


def _referenced(
    members: QuerySet, scope: AccessScope, options: dict[str, Any], *, pinned: bool
) -> list[Row]:
    """Resources the compartment refers to whose types never belong to a patient's compartment:
    the practitioners, organisations, locations and medications that support the record (the
    operation's definition). A resource of a compartment type belongs to its own patients'
    record, if any, and another patient's never comes with this one."""
    rows = Resource.objects.filter(_targets_of(members), allowed_q(scope), deleted=False)
    if options.get("types"):
        rows = rows.filter(resource_type__in=options["types"])
    rows = rows.filter(_since_q(options)).order_by("pk").values_list(*ROW_FIELDS)
    return [Row(*values) for values in _values(rows, pinned=pinned)]


def _targets_of(members: QuerySet) -> RawSQL:
    """`(type, id) IN` the targets of the members' references to types outside the compartment:
    the database reads the members' reference rows by `resource_id` and looks each distinct
    target up by its unique key. The references among the record's own resources (encounters,
    and Provenance targets: most of them) are dropped before any lookup."""
    member_ids, params = members.values("resource_id").query.sql_with_params()
    resource, references = Resource._meta.db_table, SearchReference._meta.db_table
    # The compartment's types are written into the statement: constants let PostgreSQL check
    # them by a hash table, where a list of 66 parameters is compared one by one.
    inside = ", ".join(f"'{name}'" for name in sorted(compartment_paths()))
    sql = (
        f'("{resource}"."resource_type", "{resource}"."logical_id") IN'
        f' (SELECT v."target_type", v."target_id" FROM "{references}" v'
        f' WHERE v."resource_id" IN ({member_ids}) AND v."target_type" NOT IN ({inside}))'
    )
    return RawSQL(sql, params, output_field=BooleanField())


def _chunks(rows: QuerySet, *, pinned: bool) -> Iterator[Row]:
    """`rows` (ordered by pk) CHUNK at a time, each chunk one plain query after the last pk
    seen. A server-side cursor would hold the connection's place for the whole response and,
    outside a transaction (WITH HOLD), make PostgreSQL copy every row before the first FETCH."""
    last = 0
    while True:
        chunk = _values(rows.filter(pk__gt=last).values_list(*ROW_FIELDS)[:CHUNK], pinned=pinned)
        yield from (Row(*values) for values in chunk)
        if len(chunk) < CHUNK:
            return
        last = chunk[-1][0]


def _stream(
    rows: QuerySet,
    members: QuerySet,
    options: dict[str, Any],
    scope: AccessScope,
    base_url: str,
    path: str,
    patient_id: str | None,
) -> Iterator[bytes]:
    request = SearchRequest(resource_type="Patient", echo=tuple(options["echo"]))
    context = f"$everything|{patient_id}|{options.get('types')}|{options.get('since')}"
    count = options.get("count")
    boundary = decode_cursor(options["cursor"], (), context) if "cursor" in options else None
    if boundary is not None:
        rows = rows.filter(pk__gt=boundary.pk)
    pinned = patient_id is not None
    included = _referenced(members, scope, options, pinned=pinned) if boundary is None else []
    if count is None:
        matches = _chunks(rows, pinned=pinned)
        result = SearchResult(request=request, included=included)
        return searchset_chunks(result=result, base_url=base_url, path=path, matches=matches)
    page = [Row(*v) for v in _values(rows.values_list(*ROW_FIELDS)[: count + 1], pinned=pinned)]
    next_cursor = None
    if len(page) > count:
        page = page[:count]
        next_cursor = encode_cursor(Boundary(values=(), pk=page[-1].pk), (), context)
    request = replace(request, count=count, cursor=options.get("cursor"))
    result = SearchResult(request=request, matches=page, included=included, next_cursor=next_cursor)
    return iter(list(searchset_chunks(result=result, base_url=base_url, path=path)))
