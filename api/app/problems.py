"""The app API's one error currency: RFC 9457 `application/problem+json`, and the base view that
uses it (bearer token authentication, JSON only).

Store errors (`FhirError`) keep their status and message; DRF's own exceptions (validation, 401,
403, 404, 405, 415) become problems too, validation details under `errors`. Anything else is a bug
and propagates. https://www.rfc-editor.org/rfc/rfc9457
"""

from typing import Any

from django.http import Http404
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from access.api_auth import BearerTokenAuthentication
from access.audit import audit_app_request
from access.ratelimit import api_limit_check
from fhirstore.errors import FhirError

PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
}


def problem(status: int, detail: str, **extra: Any) -> Response:
    """A problem+json response with `status`, a standard title and `detail`."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body.update(detail=detail, **extra)
    response = Response(body, status=status, content_type=PROBLEM_JSON)
    response["Cache-Control"] = "no-store"
    return response


def problem_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every client error as problem+json; unknown errors propagate."""
    if isinstance(exc, FhirError):
        response = problem(exc.http_status, exc.diagnostics)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    if isinstance(exc, Http404):
        return problem(404, "Not found")
    if not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, exceptions.ValidationError):
        return problem(400, "The request body is not valid", errors=exc.detail)
    response = problem(exc.status_code, str(exc.detail))
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait))
    return response


class AppView(APIView):
    """Base of every app API view: bearer token, JSON, problem+json errors, never cached."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return problem_handler

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        """Rate limits per token and per address come first, as on the FHIR API."""
        wait = api_limit_check(request._request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        audit_app_request(request=request, status=response.status_code)
        return response
