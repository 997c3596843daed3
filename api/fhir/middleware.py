"""Last-resort error rendering for /fhir: a bug still answers with an OperationOutcome.

The exception is logged with its traceback (server side only) and the client gets a 500
OperationOutcome without internals. Nothing is swallowed: the failure is logged and reported.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from fhirstore import jsontext
from fhirstore.errors import Issue
from fhirstore.outcome import outcome_doc

logger = logging.getLogger("api.fhir")


class FhirErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/fhir"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _outcome(413, "too-costly", "The body is larger than the configured limit")
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _outcome(
            500, "exception", "The server failed to process the request; it has been logged"
        )


def _outcome(status: int, code: str, message: str) -> HttpResponse:
    body = jsontext.dumps(outcome_doc([Issue(code, message)]))
    return HttpResponse(body, status=status, content_type="application/fhir+json; charset=utf-8")
