"""Building FHIR HTTP responses: stored bytes out, headers per https://hl7.org/fhir/R4/http.html.

Also the `fhir_view` decorator every FHIR view wears: it negotiates the format, builds the access
scope, and turns any FhirError into an OperationOutcome with its status.
"""

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from access.audit import Target, audit_request
from access.audit_publish import audit_publish
from access.ratelimit import api_limit_check
from access.scopes import scope_for_request
from api.fhir import auditing, negotiation
from fhirstore import conf, jsontext, provenance
from fhirstore.context import AccessScope, GuardFailed
from fhirstore.errors import FhirError
from fhirstore.outcome import error_doc, info_doc
from fhirstore.repository import Repository
from fhirstore.stored import Stored, WriteResult, format_instant, http_date
from integrations.files import iter_file

View = Callable[..., HttpResponse]


def base_url() -> str:
    return conf.public_base_url()


def respond(
    request: HttpRequest,
    body: bytes | dict[str, Any] | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A FHIR response: dicts serialised, bytes passed through (re-indented for _pretty)."""
    media = getattr(request, "fhir_media_type", negotiation.FHIR_JSON)
    if isinstance(body, dict):
        body = jsontext.dumps_pretty(body) if negotiation.pretty(request) else jsontext.dumps(body)
    elif body is not None and negotiation.pretty(request):
        body = jsontext.dumps_pretty(jsontext.loads(body))
    response = HttpResponse(body or b"", status=status, content_type=f"{media}; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def version_headers(stored: Stored) -> dict[str, str]:
    return {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}


def written(request: HttpRequest, result: WriteResult) -> HttpResponse:
    """Answer a write honouring Prefer: return=minimal|representation|OperationOutcome."""
    stored = result.stored
    headers = version_headers(stored)
    headers["Location"] = f"{base_url()}/{stored.location}"
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    if "return=minimal" in prefer:
        return respond(request, None, status=result.status, headers=headers)
    if "return=operationoutcome" in prefer:
        when = format_instant(stored.last_updated)
        message = f"{stored.resource_type}/{stored.id} version {stored.version} stored at {when}"
        return respond(request, info_doc(message), status=result.status, headers=headers)
    return respond(request, stored.text, status=result.status, headers=headers)


def error_response(request: HttpRequest, error: FhirError) -> HttpResponse:
    return respond(request, error_doc(error), status=error.http_status, headers=error.headers)


_NO_ACCESS = AccessScope(readable=frozenset(), writable=frozenset(), actor="anonymous")


_WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _write_with_provenance(
    request: HttpRequest, view: View, repo: Repository, args: Any, kwargs: Any
) -> HttpResponse:
    """Run a write and record its Provenance in the same database transaction."""
    template = provenance.parse_header(request.headers.get("X-Provenance"))
    with transaction.atomic(), provenance.collecting() as written:
        response = view(request, repo, *args, **kwargs)
        provenance.provenance_record(written=written, actor=repo.scope.actor, template=template)
    return response


def _serve(
    request: HttpRequest,
    view: View,
    methods: tuple[str, ...],
    holder: list[Repository] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target: Target | None = None,
    negotiate: bool = True,
    fused_read: bool = False,
) -> HttpResponse:
    """Run one view; `holder` receives the caller's repository so the request can be audited."""
    try:
        media = negotiation.response_type(request) if negotiate else negotiation.FHIR_JSON
        request.fhir_media_type = media  # type: ignore[attr-defined]
        if request.method not in methods:
            raise FhirError(
                f"{request.method} is not allowed here",
                http_status=405,
                code="not-supported",
                headers={"Allow": ", ".join(methods)},
            )
        if holder is None:
            return view(request, Repository(scope=_NO_ACCESS), *args, **kwargs)
        wait = api_limit_check(request)
        if wait is not None:
            raise FhirError(
                f"Too many requests; retry in {wait} seconds",
                http_status=429,
                code="throttled",
                headers={"Retry-After": str(wait)},
            )
        publishes = target is not None and auditing.reads_audit_events(request, target)
        deferred = fused_read and request.method in ("GET", "HEAD") and not publishes
        repo = Repository(scope=scope_for_request(request, defer_check=deferred))
        holder.append(repo)
        if publishes:
            audit_publish()
        if request.method in _WRITES:
            return _write_with_provenance(request, view, repo, args, kwargs)
        if deferred:
            try:
                return _read_then_check(request, view, repo, args, kwargs)
            except GuardFailed:  # revoked or changed: the full check decides (401, new scopes)
                holder[0] = repo = Repository(scope=scope_for_request(request))
        return view(request, repo, *args, **kwargs)
    except FhirError as error:
        return error_response(request, error)


def _read_then_check(
    request: HttpRequest, view: View, repo: Repository, args: Any, kwargs: Any
) -> HttpResponse:
    """Run a read whose token check was deferred to the store; if the view never reached the
    statement that runs the check, check now, before anything is answered."""
    try:
        response = view(request, repo, *args, **kwargs)
    except FhirError:
        repo.require_live()
        raise
    repo.require_live()
    return response


def fhir_view(
    *,
    methods: tuple[str, ...],
    public: bool = False,
    negotiate: bool = True,
    fused_read: bool = False,
) -> Callable[[View], View]:
    """Wrap a view: method (405), negotiation (406), access scope, FhirError → OperationOutcome.

    `negotiate=False` is for views that answer in another format (NDJSON files), which FHIR JSON
    negotiation would refuse; their errors are still OperationOutcomes. `fused_read=True` lets a
    GET check the bearer token inside the store's first statement (`AccessScope.guard`: a read
    by id, a search page); only for views whose GET writes nothing, as the check may come after
    the view ran."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if public:
                return _serve(request, view, methods, None, args, kwargs)
            target = auditing.target_of(request)
            holder: list[Repository] = []
            response = _serve(
                request, view, methods, holder, args, kwargs, target, negotiate, fused_read
            )
            scope = holder[0].scope if holder else _NO_ACCESS
            target = auditing.with_location(target, response.get("Location", ""))
            if holder and holder[0].read_patients is not None:
                target = replace(target, known_patients=holder[0].read_patients)
            audit_request(request=request, scope=scope, status=response.status_code, target=target)
            return response

        return csrf_exempt(wrapped)

    return decorate


def coalesced(chunks: Iterable[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The pieces of a streamed body joined into about `size` bytes each: one socket write per
    piece instead of one per Bundle entry, and never more than `size` (plus one entry) held."""
    held: list[bytes] = []
    length = 0
    for chunk in chunks:
        held.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(held)
            held, length = [], 0
    if held:
        yield b"".join(held)


# Bulk Data status polls (https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request).
RETRY_AFTER_SECONDS = "2"


def job_in_progress(request: HttpRequest, progress: str) -> HttpResponse:
    """202 while an export or import job runs, with its progress and when to poll again."""
    headers = {"X-Progress": progress, "Retry-After": RETRY_AFTER_SECONDS}
    return respond(request, None, status=202, headers=headers)


def manifest_response(manifest: dict[str, Any]) -> HttpResponse:
    """A finished job's manifest: plain JSON (not a FHIR resource), never cached."""
    response = HttpResponse(jsontext.dumps(manifest), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


NDJSON = "application/fhir+ndjson"


def ndjson_response(stored_name: str) -> HttpResponse:
    """A Bulk Data file from storage, streamed as NDJSON and never cached."""
    response = StreamingHttpResponse(iter_file(stored_name), content_type=NDJSON)
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]  # Django serves streaming responses alike
