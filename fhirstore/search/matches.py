"""Find the resources a conditional create, update or delete names (`If-None-Exist: query`,
`PUT Type?query`, `DELETE Type?query`): the same criteria as a search, no paging, no includes.
https://hl7.org/fhir/R4/http.html#cond-update
"""

from urllib.parse import parse_qsl

from fhirstore.context import AccessScope
from fhirstore.errors import InvalidRequest
from fhirstore.models import Resource
from fhirstore.search.access import allowed_q, check_readable
from fhirstore.search.criteria import criterion_q
from fhirstore.search.parse import parse_search


def find_matches(
    *, resource_type: str, query: str, scope: AccessScope, limit: int = 2
) -> list[Resource]:
    """Up to `limit` current resources of `resource_type` matching `query` (a query string).

    Unknown parameters are an error here (a conditional write must not widen silently), and so is
    a query without criteria.
    """
    params = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    request = parse_search(resource_type=resource_type, params=params, strict=True)
    if not request.criteria:
        raise InvalidRequest(f"The conditional query '{query}' has no search criteria")
    check_readable(scope, (resource_type,))
    types = (resource_type,)
    allowed = allowed_q(scope, types)
    rows = Resource.objects.filter(allowed, resource_type=resource_type, deleted=False)
    # Chains and _has reach other types: their rows pass the unpruned access condition.
    reach = allowed_q(scope) if any(c.path for c in request.criteria) else allowed
    for criterion in request.criteria:
        rows = rows.filter(criterion_q(criterion, types=types, allowed=reach))
    return list(rows.order_by("pk")[:limit])
