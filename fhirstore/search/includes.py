"""`_include` and `_revinclude`: the resources the page's matches refer to, and those referring to
them, fetched with one query per level (never per row) and through the caller's access condition.
`:iterate` repeats the included step on what the previous level brought, until nothing new comes
(bounded by `MAX_LEVELS`). https://hl7.org/fhir/R4/search.html#include
"""

from functools import reduce
from operator import or_

from django.db.models import Exists, OuterRef, Q

from fhirstore.models import Resource
from fhirstore.models.index import SearchReference
from fhirstore.search.request import Include
from fhirstore.search.result import ROW_FIELDS, Row

MAX_LEVELS = 4


def included_rows(
    *, page: list[Row], includes: tuple[Include, ...], revincludes: tuple[Include, ...], allowed: Q
) -> list[Row]:
    """Rows brought in by the include parameters, without the page's own rows or repeats."""
    seen = {row.pk for row in page}
    found: list[Row] = []
    level, first = page, True
    for _ in range(MAX_LEVELS):
        types = {row.resource_type for row in level}
        forward = _applicable(includes if first else _iterating(includes), types)
        reverse = revincludes if first else _iterating(revincludes)
        if not level or not (forward or reverse):
            break
        level = [row for row in _level(level, forward, reverse, allowed) if row.pk not in seen]
        seen.update(row.pk for row in level)
        found.extend(level)
        first = False
    return found


def _iterating(specs: tuple[Include, ...]) -> tuple[Include, ...]:
    return tuple(spec for spec in specs if spec.iterate)


def _applicable(specs: tuple[Include, ...], types: set[str]) -> tuple[Include, ...]:
    """Forward includes whose source type is on this level (no query for the others)."""
    return tuple(spec for spec in specs if spec.source_type == "*" or spec.source_type in types)


def _level(
    rows: list[Row], forward: tuple[Include, ...], reverse: tuple[Include, ...], allowed: Q
) -> list[Row]:
    conditions = []
    if forward:
        conditions.append(_forward_q(rows, forward))
    if reverse:
        conditions.append(_reverse_q(rows, reverse))
    found = Resource.objects.filter(allowed, reduce(or_, conditions), deleted=False)
    return [Row.of(values) for values in found.order_by("pk").values(*ROW_FIELDS)]


def _spec_q(include: Include, *, type_field: str) -> Q:
    q = Q() if include.source_type == "*" else Q(resource_type=include.source_type)
    if include.param != "*":
        q &= Q(param=include.param)
    if include.target_type:
        q &= Q(**{type_field: include.target_type})
    return q


def _forward_q(rows: list[Row], specs: tuple[Include, ...]) -> Q:
    refs = SearchReference.objects.filter(
        reduce(or_, (_spec_q(s, type_field="target_type") for s in specs)),
        resource_id__in=[row.pk for row in rows],
        target_type=OuterRef("resource_type"),
        target_id=OuterRef("logical_id"),
    )
    return Q(Exists(refs))


def _reverse_q(rows: list[Row], specs: tuple[Include, ...]) -> Q:
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row.resource_type, []).append(row.id)
    targets = reduce(or_, (Q(target_type=t, target_id__in=ids) for t, ids in by_type.items()))
    specs_q = reduce(or_, (_spec_q(s, type_field="target_type") for s in specs))
    refs = SearchReference.objects.filter(targets, specs_q)
    return Q(pk__in=refs.values("resource_id"))
