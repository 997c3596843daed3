"""The caller's access condition on `Resource` rows, built from the request's `AccessScope`.

This is the one place search applies patient isolation: a restricted caller sees resources in the
compartment of one of its patients (the Patient itself included), or of the shared `open_types`.
Every matched, included, chained and `_has` row goes through it, and so do totals. Granular
scopes (`scope.type_filters`) narrow a type further to rows matching one of its search queries.
"""

import functools
from functools import reduce
from operator import and_, or_
from urllib.parse import parse_qsl

from django.db.models import Q

from fhirstore.context import AccessScope
from fhirstore.errors import FhirError, Forbidden
from fhirstore.models import CompartmentMember
from fhirstore.search.criteria import criterion_q
from fhirstore.search.parse import parse_search
from fhirstore.search.request import Criterion


def allowed_q(scope: AccessScope, types: tuple[str, ...] = ()) -> Q:
    """Rows the caller may see; `types` (when known) prunes branches that cannot apply."""
    if scope.patient_ids is None:
        base = _readable_q(scope)
        return base & _filters_q(scope, types, base)
    patients = sorted(scope.patient_ids)
    members = CompartmentMember.objects.filter(patient_id__in=patients)
    if types:
        members = members.filter(resource_type__in=types)
    allowed = Q(pk__in=members.values("resource_id"))
    open_types = sorted(t for t in scope.open_types if not types or t in types)
    if open_types:
        allowed |= Q(resource_type__in=open_types)
    base = allowed & _readable_q(scope)
    return base & _filters_q(scope, types, base)


def _readable_q(scope: AccessScope) -> Q:
    if "*" in scope.readable:
        return Q()
    return Q(resource_type__in=sorted(scope.readable))


def _filters_q(scope: AccessScope, types: tuple[str, ...], base: Q) -> Q:
    """Rows of each filtered type must match one of its queries; other types pass untouched."""
    conditions = []
    for resource_type, queries in sorted(scope.type_filters.items()):
        if types and resource_type not in types:
            continue
        matches = [
            reduce(and_, (criterion_q(c, types=(resource_type,), allowed=base) for c in crit), Q())
            for crit in (filter_criteria(resource_type, query) for query in queries)
        ]
        this_type = Q(resource_type=resource_type)
        conditions.append(~this_type | (this_type & reduce(or_, matches, Q(pk__in=[]))))
    return reduce(and_, conditions, Q())


@functools.lru_cache(maxsize=256)
def filter_criteria(resource_type: str, query: str) -> tuple[Criterion, ...]:
    """The parsed criteria of one granular-scope query; Forbidden when it cannot be applied, so
    a scope the store does not understand never widens into an unfiltered one."""
    try:
        params = parse_qsl(query, keep_blank_values=True)
        request = parse_search(resource_type=resource_type, params=params, strict=True)
    except FhirError as error:
        raise Forbidden(f"The granted scope's query '{query}' cannot be applied: {error}") from None
    if not request.criteria:
        raise Forbidden(f"The granted scope's query '{query}' has no search criteria")
    return request.criteria


def check_readable(scope: AccessScope, types: tuple[str, ...]) -> None:
    """A search naming a type the caller may not read is refused outright (403)."""
    for resource_type in types:
        if not scope.may_read(resource_type):
            raise Forbidden(f"Not allowed to read {resource_type} resources")
