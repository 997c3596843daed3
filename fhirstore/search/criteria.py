"""Turn parsed criteria into conditions on `Resource`: semi-joins (`IN` subqueries) on the index
tables, one per criterion, so a search is one SQL statement that the indexes answer.

Chains follow `SearchReference` rows to the targets that match the rest of the chain; `_has` goes
the other way. Every resource a chain or `_has` looks at passes the caller's access condition too,
so neither can reveal a row the caller may not see. `:not` and `:missing` apply to every type.
https://hl7.org/fhir/R4/search.html#chaining
"""

from collections.abc import Callable
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from fhirstore.models import Resource
from fhirstore.models.index import (
    SearchDate,
    SearchNumber,
    SearchQuantity,
    SearchReference,
    SearchString,
    SearchToken,
    SearchUri,
)
from fhirstore.search.filters.date import filter_date
from fhirstore.search.filters.number import filter_number
from fhirstore.search.filters.quantity import filter_quantity
from fhirstore.search.filters.reference import filter_reference
from fhirstore.search.filters.string import filter_string
from fhirstore.search.filters.token import filter_token, token_codes
from fhirstore.search.filters.uri import filter_uri
from fhirstore.search.request import (
    CompositeValue,
    Criterion,
    Forward,
    Hop,
    MissingValue,
    Value,
)

RowFilter = Callable[..., Q]
TABLES: dict[str, tuple[type[Model], RowFilter]] = {
    "token": (SearchToken, filter_token),
    "string": (SearchString, filter_string),
    "date": (SearchDate, filter_date),
    "reference": (SearchReference, filter_reference),
    "quantity": (SearchQuantity, filter_quantity),
    "number": (SearchNumber, filter_number),
    "uri": (SearchUri, filter_uri),
}
NOTHING = Q(pk__in=[])


def criterion_q(criterion: Criterion, *, types: tuple[str, ...], allowed: Q) -> Q:
    """The condition a resource of `types` must meet to match `criterion`.

    `allowed` is the caller's access condition, applied to every resource a chain reaches.
    """
    return _path_q(criterion.path, types, criterion, allowed)


def _path_q(path: tuple[Hop, ...], types: tuple[str, ...], criterion: Criterion, allowed: Q) -> Q:
    if not path:
        return leaf_q(criterion, types)
    hop, rest = path[0], path[1:]
    inner_types = hop.target_types if isinstance(hop, Forward) else (hop.source_type,)
    inner = Resource.objects.filter(_types_q(inner_types), allowed, deleted=False)
    inner = inner.filter(_path_q(rest, inner_types, criterion, allowed))
    if isinstance(hop, Forward):
        return _forward_q(hop, types, inner)
    refs = SearchReference.objects.filter(
        resource_type=hop.source_type, param=hop.param, resource_id__in=inner.values("pk")
    )
    if len(types) == 1:
        # One outer type: a plain `logical_id IN (...)` lets the planner use the id index.
        refs = refs.filter(target_type=types[0])
        return Q(logical_id__in=refs.values("target_id"))
    return Q(
        Exists(refs.filter(target_type=OuterRef("resource_type"), target_id=OuterRef("logical_id")))
    )


def _forward_q(hop: Forward, types: tuple[str, ...], inner: "QuerySet[Resource]") -> Q:
    refs = SearchReference.objects.filter(_types_q(types), param=hop.param)
    if len(hop.target_types) == 1:
        refs = refs.filter(
            target_type=hop.target_types[0], target_id__in=inner.values("logical_id")
        )
    else:
        matched = inner.filter(
            resource_type=OuterRef("target_type"), logical_id=OuterRef("target_id")
        )
        refs = refs.filter(target_type__in=hop.target_types).filter(Exists(matched))
    return Q(pk__in=refs.values("resource_id"))


def _types_q(types: tuple[str, ...]) -> Q:
    return Q(resource_type__in=types) if types else Q()


def criterion_ids(criterion: Criterion, *, types: tuple[str, ...]) -> "QuerySet[Any] | None":
    """The index rows matching `criterion` (their `resource_id`s are the matches) when it is a
    plain positive match on the searched type itself, else None (use `criterion_q`).

    The engine nests these subqueries so the database intersects index rows before it reads a
    single resource row: without it, a broad first criterion fetches every candidate's row.
    """
    if criterion.path or criterion.code in ("_id", "_lastUpdated"):
        return None
    if criterion.modifier in ("not", "missing"):
        return None
    return _matching_rows(criterion, types)


def leaf_q(criterion: Criterion, types: tuple[str, ...]) -> Q:
    """The criterion's own parameter, on resources of `types`."""
    if criterion.code == "_id":
        return _id_q(criterion)
    if criterion.code == "_lastUpdated":
        return _last_updated_q(criterion)
    if criterion.modifier == "missing":
        return _missing_q(criterion, types)
    rows = _matching_rows(criterion, types)
    matched = Q(pk__in=rows.values("resource_id"))
    return ~matched if criterion.modifier == "not" else matched


def _matching_rows(criterion: Criterion, types: tuple[str, ...]) -> "QuerySet[Any]":
    if criterion.type == "composite":
        return _composite_rows(criterion, types)
    model, row_filter = index_table(criterion)
    conditions = [row_filter(value=v, modifier=criterion.modifier) for v in criterion.values]
    return model._default_manager.filter(
        _types_q(types), reduce(or_, conditions), param=row_param(criterion)
    )


def index_table(criterion: Criterion) -> tuple[type[Model], RowFilter]:
    if criterion.modifier in ("identifier", "of-type"):
        return TABLES["token"]
    return TABLES[criterion.type]


def row_param(criterion: Criterion) -> str:
    """Rows for `:identifier` and `:of-type` carry the modifier in their param (index side)."""
    if criterion.modifier in ("identifier", "of-type"):
        return f"{criterion.code}:{criterion.modifier}"
    return criterion.code


def _missing_q(criterion: Criterion, types: tuple[str, ...]) -> Q:
    value = criterion.values[0]
    assert isinstance(value, MissingValue)
    if criterion.type == "composite":
        model, param = TABLES[criterion.components[0][1]][0], f"{criterion.code}$0"
    else:
        model, param = TABLES[criterion.type][0], criterion.code
    rows = model._default_manager.filter(_types_q(types), param=param)
    present = Q(pk__in=rows.values("resource_id"))
    return ~present if value.missing else present


def _id_q(criterion: Criterion) -> Q:
    if criterion.modifier == "missing":
        value = criterion.values[0]
        return NOTHING if isinstance(value, MissingValue) and value.missing else Q()
    matched = Q(logical_id__in=token_codes(criterion.values))
    return ~matched if criterion.modifier == "not" else matched


def _last_updated_q(criterion: Criterion) -> Q:
    if criterion.modifier == "missing":
        value = criterion.values[0]
        return NOTHING if isinstance(value, MissingValue) and value.missing else Q()
    conditions = [
        filter_date(value=v, modifier=None, low="last_updated", high="last_updated")
        for v in criterion.values
    ]
    return reduce(or_, conditions)


def _composite_rows(criterion: Criterion, types: tuple[str, ...]) -> "QuerySet[Any]":
    """Rows of the first component whose sibling components (same `group_no`) match too."""
    conditions = [_composite_value_q(criterion, v, types) for v in criterion.values]
    first_model = TABLES[criterion.components[0][1]][0]
    return first_model._default_manager.filter(reduce(or_, conditions))


def _composite_value_q(criterion: Criterion, value: Value, types: tuple[str, ...]) -> Q:
    assert isinstance(value, CompositeValue)
    (_, first_type), *others = criterion.components
    _, first_filter = TABLES[first_type]
    q = Q(_types_q(types), first_filter(value=value.parts[0], modifier=None))
    q &= Q(param=f"{criterion.code}$0")
    for n, ((_, kind), part) in enumerate(zip(others, value.parts[1:], strict=True), start=1):
        model, row_filter = TABLES[kind]
        sibling = model._default_manager.filter(
            row_filter(value=part, modifier=None),
            param=f"{criterion.code}${n}",
            resource_id=OuterRef("resource_id"),
            group_no=OuterRef("group_no"),
        )
        q &= Q(Exists(sibling))
    return q
