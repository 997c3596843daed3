"""The FHIR base URL itself: POST a batch or transaction Bundle, GET a system-level search.

https://hl7.org/fhir/R4/http.html#transaction
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from api.fhir import negotiation
from api.fhir.responses import fhir_view, respond
from fhirstore.errors import InvalidRequest, NotFound
from fhirstore.outcome import error_doc
from fhirstore.repository import Repository


@fhir_view(methods=("GET", "HEAD", "POST"))
def root(request: HttpRequest, repo: Repository) -> HttpResponse:
    if request.method == "POST":
        doc = negotiation.read_resource(request)
        if doc.get("resourceType") != "Bundle":
            raise InvalidRequest(
                "POST to the base URL takes a batch or transaction Bundle", code="invariant"
            )
        from fhirstore import bundles

        prefer = request.headers.get("Prefer")
        return respond(request, bundles.process_bundle(repo=repo, bundle=doc, prefer=prefer))
    from api.fhir import search_views

    return search_views.search_system(request, repo)


@csrf_exempt
def unknown_route(request: HttpRequest) -> HttpResponse:
    error = NotFound(f"No FHIR interaction is served at {request.path}")
    return respond(request, error_doc(error), status=404)
