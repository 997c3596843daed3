"""FHIR search over HTTP: `GET [type]`, `POST [type]/_search`, system search `GET /?_type=`,
compartment search `GET Patient/{id}/[type]`, and the `$everything` and `$lastn` operations.

Each view reads the parameters (query string, plus the form body for `_search`, which must give the
same result as GET), calls the store's search and renders the stored bytes.
`Prefer: handling=strict` turns unknown parameters into a 400.
https://hl7.org/fhir/R4/search.html and https://hl7.org/fhir/R4/http.html#search
"""

from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import re_path

from api.fhir import capability, negotiation
from api.fhir.responses import base_url, coalesced, fhir_view, respond
from fhirstore.errors import InvalidRequest
from fhirstore.operations.everything import everything_chunks
from fhirstore.operations.lastn import lastn
from fhirstore.repository import Repository, check_type
from fhirstore.search.bundle import searchset_bytes
from fhirstore.search.engine import execute_search
from fhirstore.search.parse import parse_search

FORM = "application/x-www-form-urlencoded"
TYPE = r"(?P<resource_type>[A-Z][A-Za-z]+)"
ID = r"(?P<logical_id>[A-Za-z0-9\-\.]{1,64})"


def search_params(request: HttpRequest) -> list[tuple[str, str]]:
    """Query-string parameters in order, then those of a form-encoded POST body."""
    params = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type and content_type != FORM:
            raise InvalidRequest(f"POST _search takes {FORM}, not {content_type}", http_status=415)
        params += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return params


def strict(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=strict" in prefer.split(",")


def searchset(
    *,
    request: HttpRequest,
    params: list[tuple[str, str]],
    repo: Repository,
    resource_type: str | None,
    path: str,
    compartment: tuple[str, str] | None = None,
) -> bytes:
    """The searchset Bundle of one search; a page that proved the caller's credentials
    (`AccessScope.guard`) marks them checked on `repo`."""
    parsed = parse_search(resource_type=resource_type, params=params, strict=strict(request))
    result = execute_search(request=parsed, scope=repo.scope, compartment=compartment)
    if result.guard_held:
        repo.credentials_held()
    return searchset_bytes(result=result, base_url=base_url(), path=path)


def _run(
    request: HttpRequest,
    repo: Repository,
    resource_type: str | None,
    path: str,
    compartment: tuple[str, str] | None = None,
) -> HttpResponse:
    body = searchset(
        request=request,
        params=search_params(request),
        repo=repo,
        resource_type=resource_type,
        path=path,
        compartment=compartment,
    )
    return respond(request, body)


def search_type(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    """`GET [type]?...` (called by the type-level view)."""
    return _run(request, repo, resource_type, resource_type)


def search_system(request: HttpRequest, repo: Repository) -> HttpResponse:
    """`GET [base]?_type=...` (called by the base URL's view)."""
    return _run(request, repo, None, "")


@fhir_view(methods=("POST", "GET"))
def search_post(request: HttpRequest, repo: Repository, resource_type: str) -> HttpResponse:
    """`POST [type]/_search`, form-encoded: the same search as GET."""
    check_type(resource_type)
    return _run(request, repo, resource_type, resource_type)


@fhir_view(methods=("POST", "GET"))
def search_system_post(request: HttpRequest, repo: Repository) -> HttpResponse:
    return _run(request, repo, None, "")


@fhir_view(methods=("GET", "HEAD"), fused_read=True)
def compartment_search(
    request: HttpRequest, repo: Repository, logical_id: str, target_type: str
) -> HttpResponse:
    """`GET Patient/{id}/[type]?...`: the search within one patient's compartment."""
    check_type(target_type)
    path = f"Patient/{logical_id}/{target_type}"
    return _run(request, repo, target_type, path, compartment=("Patient", logical_id))


@fhir_view(methods=("GET", "HEAD", "POST"))
def everything(
    request: HttpRequest, repo: Repository, logical_id: str | None = None
) -> HttpResponse:
    """`Patient/{id}/$everything` and `Patient/$everything`, streamed."""
    params = search_params(request)
    path = f"Patient/{logical_id}/$everything" if logical_id else "Patient/$everything"
    chunks = everything_chunks(
        patient_id=logical_id, params=params, scope=repo.scope, base_url=base_url(), path=path
    )
    if negotiation.pretty(request):
        return respond(request, b"".join(chunks))
    media = getattr(request, "fhir_media_type", negotiation.FHIR_JSON)
    response = StreamingHttpResponse(coalesced(chunks), content_type=f"{media}; charset=utf-8")
    response["Cache-Control"] = "no-store"
    # fhir_view's View type says HttpResponse; Django serves a streaming response just the same.
    return response  # type: ignore[return-value]


@fhir_view(methods=("GET", "HEAD", "POST"))
def observation_lastn(request: HttpRequest, repo: Repository) -> HttpResponse:
    """`Observation/$lastn`: the latest `max` Observations per code."""
    result = lastn(params=search_params(request), scope=repo.scope, strict=strict(request))
    path = "Observation/$lastn"
    return respond(request, searchset_bytes(result=result, base_url=base_url(), path=path))


# What /metadata claims: name -> (definition, a path the route below serves).
capability.OPERATIONS.update(
    {
        "everything": (
            "http://hl7.org/fhir/OperationDefinition/Patient-everything",
            "/Patient/example/$everything",
        ),
        "lastn": (
            "http://hl7.org/fhir/OperationDefinition/Observation-lastn",
            "/Observation/$lastn",
        ),
    }
)

urlpatterns = [
    re_path(r"^/_search/?$", search_system_post, name="fhir-system-search"),
    re_path(r"^/Observation/\$lastn/?$", observation_lastn, name="fhir-observation-lastn"),
    re_path(r"^/Patient/\$everything/?$", everything, name="fhir-patient-everything-all"),
    re_path(rf"^/Patient/{ID}/\$everything/?$", everything, name="fhir-patient-everything"),
    re_path(rf"^/{TYPE}/_search/?$", search_post, name="fhir-search"),
    re_path(
        rf"^/Patient/{ID}/(?P<target_type>[A-Z][A-Za-z]+)/?$",
        compartment_search,
        name="fhir-compartment-search",
    ),
]
