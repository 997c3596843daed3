"""`Observation/$lastn`: the most recent `max` Observations (default 1) for each code, for the
patient and category asked, in one SQL statement with a window function (`ROW_NUMBER() OVER
(PARTITION BY code ORDER BY effective DESC)`, PostgreSQL and SQLite 3.25+).

The criteria are ordinary Observation search parameters (`patient`, `category`, `code`, `date`
...) run through the search engine, so the caller's access scope applies. Observations are
grouped by each coding of `Observation.code` (system and code); ties on time fall to the newest
row. https://hl7.org/fhir/R4/observation-operation-lastn.html
"""

from django.db.models import F, OuterRef, Subquery
from django.db.models.expressions import Value, Window
from django.db.models.functions import Coalesce, RowNumber

from fhirstore.context import AccessScope
from fhirstore.errors import InvalidRequest
from fhirstore.models import Resource
from fhirstore.models.index import MIN_DATE, SearchDate, SearchToken
from fhirstore.search.engine import matching_rows
from fhirstore.search.indexer import SORT_SUFFIX
from fhirstore.search.parse import parse_search
from fhirstore.search.result import ROW_FIELDS, Row, SearchResult
from fhirstore.search.values import bad

MAX_PER_CODE = 100


def lastn(
    *, params: list[tuple[str, str]], scope: AccessScope, strict: bool = False
) -> SearchResult:
    """The latest `max` Observations per code among those matching `params`."""
    limit = _max(params)
    criteria = [(name, raw) for name, raw in params if name not in ("max", "_count", "_sort")]
    request = parse_search(resource_type="Observation", params=criteria, strict=strict)
    if not any(c.code in ("patient", "subject") for c in request.criteria):
        raise InvalidRequest(
            "$lastn needs a patient (or subject) parameter", expression=("patient",)
        )
    matched = matching_rows(request=request, scope=scope)
    ids = _latest_ids(matched.values("pk"), limit)
    rows = Resource.objects.filter(pk__in=ids).values(*ROW_FIELDS)
    by_pk = {values["pk"]: Row.of(values) for values in rows}
    return SearchResult(request=request, matches=[by_pk[pk] for pk in ids if pk in by_pk])


def _max(params: list[tuple[str, str]]) -> int:
    raw = dict(params).get("max", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise bad(f"max must be a positive integer, not '{raw}'", "max")
    return min(int(raw), MAX_PER_CODE)


def _latest_ids(matched: object, limit: int) -> list[int]:
    """Primary keys of the newest `limit` Observations per code, grouped by code, newest first."""
    # The one `date:sort` row per Observation holds its latest effective time (MAX(high)).
    effective = SearchDate.objects.filter(
        resource_id=OuterRef("resource_id"), param="date" + SORT_SUFFIX
    )
    latest = Subquery(effective.values("high")[:1])
    ranked = (
        SearchToken.objects.filter(
            resource_type="Observation", param="code", resource_id__in=matched
        )
        .exclude(code="")
        .annotate(
            when=Coalesce(latest, Value(MIN_DATE)),
            rank=Window(
                RowNumber(),
                partition_by=[F("system"), F("code")],
                order_by=[F("when").desc(), F("resource_id").desc()],
            ),
        )
        .filter(rank__lte=limit)
        .order_by("system", "code", "rank")
    )
    seen: dict[int, None] = {}
    for pk in ranked.values_list("resource_id", flat=True):
        seen.setdefault(pk, None)
    return list(seen)
