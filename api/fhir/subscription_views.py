"""FHIR REST for Subscription (https://hl7.org/fhir/R4/subscription.html): writes go through
`integrations.subscriptions`, which checks the criteria and channel, activates the Subscription
and remembers its creator's access; a caller restricted to patients reads only its own.

These routes come before the generic `[type]` and `[type]/[id]` routes (see `urls.py`). Search
and history stay generic (system access sees every Subscription there).
"""

from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from api.fhir import negotiation
from api.fhir.responses import fhir_view, respond, version_headers, written
from api.fhir.search_views import search_type
from fhirstore.errors import FhirError, InvalidRequest
from fhirstore.outcome import info_doc
from fhirstore.repository import Repository
from integrations.subscriptions import (
    subscription_create,
    subscription_delete,
    subscription_read,
    subscription_update,
)

ID = r"(?P<logical_id>[A-Za-z0-9\-\.]{1,64})"


def _body(request: HttpRequest) -> dict:
    doc = negotiation.read_resource(request)
    if doc.get("resourceType") != "Subscription":
        raise InvalidRequest(
            f"The body holds {doc.get('resourceType')!r}, not Subscription", code="invariant"
        )
    return doc


@fhir_view(methods=("GET", "HEAD", "POST"))
def subscriptions(request: HttpRequest, repo: Repository) -> HttpResponse:
    """create (POST) and search (GET) of Subscription."""
    if request.method == "POST":
        return written(request, subscription_create(scope=repo.scope, doc=_body(request)))
    return search_type(request, repo, "Subscription")


def _update(request: HttpRequest, repo: Repository, logical_id: str) -> HttpResponse:
    doc = _body(request)
    if doc.get("id") != logical_id:
        raise InvalidRequest("The id in the body must equal the id in the URL", code="invariant")
    result = subscription_update(
        scope=repo.scope, logical_id=logical_id, doc=doc, if_match=request.headers.get("If-Match")
    )
    return written(request, result)


def _delete(request: HttpRequest, repo: Repository, logical_id: str) -> HttpResponse:
    result = subscription_delete(scope=repo.scope, logical_id=logical_id)
    if result is None:
        return respond(request, info_doc(f"Subscription/{logical_id} did not exist"))
    return respond(
        request,
        info_doc(f"Deleted Subscription/{logical_id}"),
        headers={"ETag": result.stored.etag},
    )


def _read(request: HttpRequest, repo: Repository, logical_id: str) -> HttpResponse:
    stored = subscription_read(scope=repo.scope, logical_id=logical_id)
    return respond(request, stored.text, headers=version_headers(stored))


@fhir_view(methods=("GET", "HEAD", "PUT", "DELETE", "PATCH"))
def subscription(request: HttpRequest, repo: Repository, logical_id: str) -> HttpResponse:
    """read, update and delete of `Subscription/[id]`."""
    if request.method == "PUT":
        return _update(request, repo, logical_id)
    if request.method == "DELETE":
        return _delete(request, repo, logical_id)
    if request.method == "PATCH":
        raise FhirError(
            "A Subscription is changed with PUT, so that it is checked again",
            http_status=405,
            code="not-supported",
            headers={"Allow": "GET, HEAD, PUT, DELETE"},
        )
    return _read(request, repo, logical_id)


urlpatterns = [
    re_path(r"^/Subscription/?$", subscriptions, name="fhir-subscriptions"),
    re_path(rf"^/Subscription/{ID}/?$", subscription, name="fhir-subscription"),
]
