"""History at instance, type and system level, paged by keyset so pages stay stable under writes.

Newest first (https://hl7.org/fhir/R4/http.html#history). `_since` keeps versions written at or
after an instant; `_at` keeps, per resource, the version that was current at that moment; `_count`
sets the page size. The cursor names the last (lastUpdated, row) pair seen and is signed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core import signing
from django.db.models import Exists, OuterRef, Q, QuerySet

from fhirstore import conf, jsontext
from fhirstore.context import AccessScope
from fhirstore.errors import InvalidRequest
from fhirstore.models import CompartmentMember, ResourceVersion
from fhirstore.stored import Stored, format_instant

_SALT = "fhirstore.history"
_CURSOR_AGE = 24 * 3600


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Stored]
    total: int | None
    next_cursor: str | None
    self_params: list[tuple[str, str]]


def parse_instant(value: str, *, name: str) -> datetime:
    """A FHIR date, dateTime or instant as the UTC start of the moment it names."""
    text = value.strip().replace("Z", "+00:00")
    for size, pad in ((4, "-01-01"), (7, "-01")):
        if len(text) == size:
            text += pad
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{name}: {value!r} is not a valid FHIR instant", expression=(name,)
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _page_size(params: dict[str, str]) -> int:
    raw = params.get("_count", "")
    if not raw:
        return conf.default_count()
    if not raw.isdigit():
        raise InvalidRequest(
            f"_count must be a non-negative integer, got {raw!r}", expression=("_count",)
        )
    return min(int(raw), conf.max_count())


def _decode_cursor(token: str) -> tuple[datetime, int]:
    try:
        moment, row = signing.loads(token, salt=_SALT, max_age=_CURSOR_AGE)
        return datetime.fromisoformat(str(moment)), int(str(row))
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidRequest(
            "The paging cursor is invalid or has expired", expression=("_cursor",)
        ) from None


def _scoped(query: QuerySet[ResourceVersion], scope: AccessScope) -> QuerySet[ResourceVersion]:
    if "*" not in scope.readable:
        # System and type-less history must not show types the scopes do not grant.
        query = query.filter(resource_type__in=sorted(scope.readable))
    if scope.type_filters:
        from fhirstore.models import Resource
        from fhirstore.search.access import allowed_q

        query = query.filter(resource__in=Resource.objects.filter(allowed_q(scope)))
    if scope.unrestricted:
        return query
    member = CompartmentMember.objects.filter(
        resource=OuterRef("resource"), patient_id__in=scope.patient_ids
    )
    return query.filter(Q(Exists(member)) | Q(resource_type__in=scope.open_types))


def _base_query(
    resource_type: str | None, logical_id: str | None, params: dict[str, str]
) -> QuerySet[ResourceVersion]:
    query = ResourceVersion.objects.all()
    if resource_type:
        query = query.filter(resource_type=resource_type)
    if logical_id:
        query = query.filter(logical_id=logical_id)
    if "_since" in params:
        query = query.filter(last_updated__gte=parse_instant(params["_since"], name="_since"))
    if "_at" in params:
        at = parse_instant(params["_at"], name="_at")
        later = ResourceVersion.objects.filter(
            resource=OuterRef("resource"), last_updated__lte=at, version__gt=OuterRef("version")
        )
        query = query.filter(last_updated__lte=at).exclude(Exists(later))
    return query


def version_visible(row: ResourceVersion, scope: AccessScope) -> bool:
    """A version written while the resource was in another patient's compartment (a result filed
    to the wrong patient, then corrected) stays out of this caller's vread and history."""
    if scope.unrestricted or row.deleted or row.resource_type in scope.open_types:
        return True
    assert scope.patient_ids is not None
    return bool(row.patient_ids & scope.patient_ids)


def history_page(
    *,
    scope: AccessScope,
    resource_type: str | None,
    logical_id: str | None,
    params: list[tuple[str, str]],
) -> HistoryPage:
    """One page of versions, newest first, visible to `scope`."""
    given = dict(params)
    size = _page_size(given)
    query = _scoped(_base_query(resource_type, logical_id, given), scope)
    total = query.count() if "_cursor" not in given else None
    if "_cursor" in given:
        moment, row = _decode_cursor(given["_cursor"])
        query = query.filter(Q(last_updated__lt=moment) | Q(last_updated=moment, id__lt=row))
    rows = list(query.order_by("-last_updated", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    cursor = (
        signing.dumps([rows[-1].last_updated.isoformat(), rows[-1].id], salt=_SALT)
        if more and rows
        else None
    )
    rows = [r for r in rows if version_visible(r, scope)]
    entries = [
        Stored(
            r.resource_type,
            r.logical_id,
            r.version,
            r.last_updated,
            r.deleted,
            r.text.encode(),
            r.method,
        )
        for r in rows
    ]
    kept = [(k, v) for k, v in params if k in ("_since", "_at", "_count")]
    return HistoryPage(entries, total, cursor, kept)


def _entry(stored: Stored, base: str) -> bytes:
    url = f"{base}/{stored.resource_type}/{stored.id}"
    method = stored.method or "PUT"
    request_url = (
        f"{stored.resource_type}" if method == "POST" else f"{stored.resource_type}/{stored.id}"
    )
    status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
    response = {
        "status": status,
        "etag": stored.etag,
        "lastModified": format_instant(stored.last_updated),
    }
    head = jsontext.dumps({"fullUrl": url})[:-1]
    resource = b"" if stored.deleted else b',"resource":' + stored.text
    tail = jsontext.dumps(
        {"request": {"method": method, "url": request_url}, "response": response}
    )[1:]
    return head + resource + b"," + tail


def history_bytes(*, page: HistoryPage, base: str, path: str) -> bytes:
    """The history Bundle as JSON bytes, entries assembled from stored text."""
    from urllib.parse import urlencode

    links = [
        {
            "relation": "self",
            "url": f"{base}{path}"
            + (f"?{urlencode(page.self_params)}" if page.self_params else ""),
        }
    ]
    if page.next_cursor:
        nxt = [*page.self_params, ("_cursor", page.next_cursor)]
        links.append({"relation": "next", "url": f"{base}{path}?{urlencode(nxt)}"})
    head: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if page.total is not None:
        head["total"] = page.total
    head["link"] = links
    entries = b",".join(_entry(stored, base) for stored in page.entries)
    return jsontext.dumps(head)[:-1] + b',"entry":[' + entries + b"]}"
