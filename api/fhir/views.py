"""FHIR REST interactions on one resource or one type: parse, call the repository, render.

https://hl7.org/fhir/R4/http.html. Search, bundles and operations live in their own modules.
"""

from django.http import HttpRequest, HttpResponse

from api.fhir import conditional, negotiation
from api.fhir.responses import base_url, fhir_view, respond, version_headers, written
from fhirstore import history, subsetting
from fhirstore.errors import InvalidRequest
from fhirstore.outcome import info_doc
from fhirstore.repository import Repository, check_type


def _read(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    stored = repo.read(resource_type=resource_type, logical_id=logical_id)
    if conditional.not_modified(request, stored):
        return respond(request, None, status=304, headers=version_headers(stored))
    summary = request.GET.get("_summary")
    subsetting.check_summary(summary)
    elements = subsetting.parse_elements(request.GET.get("_elements"))
    body = subsetting.subset_text(stored.text, summary=summary, elements=elements)
    return respond(request, body, headers=version_headers(stored))


def _update(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    doc = negotiation.read_resource(request)
    result = repo.update(
        resource_type=resource_type,
        logical_id=logical_id,
        doc=doc,
        if_match=request.headers.get("If-Match"),
    )
    return written(request, result)


def _patch(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    operations = negotiation.read_body(request, allow_patch=True)
    result = repo.patch(
        resource_type=resource_type,
        logical_id=logical_id,
        operations=operations,
        if_match=request.headers.get("If-Match"),
    )
    return written(request, result)


def _delete(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    result = repo.delete(resource_type=resource_type, logical_id=logical_id)
    if result is None:
        return respond(
            request, info_doc(f"{resource_type}/{logical_id} did not exist or was already deleted")
        )
    return respond(
        request,
        info_doc(f"Deleted {resource_type}/{logical_id}"),
        headers={"ETag": result.stored.etag},
    )


_INSTANCE = {"GET": _read, "HEAD": _read, "PUT": _update, "PATCH": _patch, "DELETE": _delete}


@fhir_view(methods=("GET", "HEAD", "PUT", "PATCH", "DELETE"), fused_read=True)
def instance(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    """read, update, patch, delete of `[type]/[id]`."""
    return _INSTANCE[request.method or "GET"](request, repo, resource_type, logical_id)


@fhir_view(methods=("GET", "HEAD"), fused_read=True)
def vread(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str, version: str
) -> HttpResponse:
    stored = repo.vread(resource_type=resource_type, logical_id=logical_id, version=version)
    return respond(request, stored.text, headers=version_headers(stored))


def _conditional_query(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith(("_format=", "_pretty=")))
    if not kept:
        raise InvalidRequest("A conditional update or delete needs search criteria")
    return kept


def _create(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    doc = negotiation.read_resource(request)
    if doc.get("resourceType") != resource_type:
        raise InvalidRequest(
            f"The body holds {doc.get('resourceType')!r}, not {resource_type}", code="invariant"
        )
    doc.pop("id", None)  # create ignores a client id (https://hl7.org/fhir/R4/http.html#create)
    result = repo.create(doc=doc, if_none_exist=request.headers.get("If-None-Exist"))
    return written(request, result)


def _conditional_update(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    doc = negotiation.read_resource(request)
    if doc.get("resourceType") != resource_type:
        raise InvalidRequest(
            f"The body holds {doc.get('resourceType')!r}, not {resource_type}", code="invariant"
        )
    result = repo.conditional_update(
        resource_type=resource_type,
        query=_conditional_query(request),
        doc=doc,
        if_match=request.headers.get("If-Match"),
    )
    return written(request, result)


def _conditional_delete(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    result = repo.conditional_delete(resource_type=resource_type, query=_conditional_query(request))
    if result is None:
        return respond(request, info_doc("No resource matched; nothing was deleted"))
    return respond(request, info_doc(f"Deleted {resource_type}/{result.stored.id}"))


def _search(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    from api.fhir import search_views

    return search_views.search_type(request, repo, resource_type)


_TYPE = {
    "POST": _create,
    "PUT": _conditional_update,
    "DELETE": _conditional_delete,
    "GET": _search,
    "HEAD": _search,
}


@fhir_view(methods=("GET", "HEAD", "POST", "PUT", "DELETE"), fused_read=True)
def type_level(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    """create, conditional update/delete and search on `[type]`."""
    check_type(resource_type)
    return _TYPE[request.method or "GET"](request, repo, resource_type)


def _history(
    request: HttpRequest, repo: Repository, path: str, **where: str | None
) -> HttpResponse:
    params = [(key, value) for key, value in request.GET.items() if isinstance(value, str)]
    page = repo.history(params=params, **where)
    return respond(request, history.history_bytes(page=page, base=base_url(), path=path))


@fhir_view(methods=("GET", "HEAD"))
def instance_history(
    request: HttpRequest, repo: Repository, resource_type: str, logical_id: str
) -> HttpResponse:
    return _history(
        request,
        repo,
        f"/{resource_type}/{logical_id}/_history",
        resource_type=resource_type,
        logical_id=logical_id,
    )


@fhir_view(methods=("GET", "HEAD"))
def type_history(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    return _history(request, repo, f"/{resource_type}/_history", resource_type=resource_type)


@fhir_view(methods=("GET", "HEAD"))
def system_history(request: HttpRequest, repo: Repository) -> HttpResponse:
    return _history(request, repo, "/_history")
