"""`POST /oauth/launch`: a clinician's system asks for an EHR launch id for a patient (and visit).

The caller is a clinician or staff login, authenticated by a bearer token issued to that user or by
the session of the server's own pages (then the CSRF token is checked, as for any form post).
Body: JSON or form fields `patient` and optional `encounter`.
Answer: `{"launch": ..., "expires_in": ...}`.
https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from access.conf import access_settings
from access.launch import LaunchRefused, launch_create
from access.ratelimit import rate_limited
from access.token_info import access_token_for


def _fields(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    return request.POST.dict()


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _caller(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = access_token_for(header[7:].strip())
        if token is None or token.expires <= timezone.now() or token.user is None:
            return None, _error(
                401, "invalid_token", "The bearer token is unknown, expired or has no user"
            )
        return token.user, None
    if not request.user.is_authenticated:
        return None, _error(401, "invalid_token", "Sign in or send a bearer token")
    refused = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, _no_view, (), {})
    return request.user, refused


def _error(status: int, code: str, description: str) -> HttpResponse:
    response = JsonResponse({"error": code, "error_description": description}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="oauth"'
    return response


@csrf_exempt
@rate_limited("launch")
def launch(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "invalid_request", "Use POST")
    user, refused = _caller(request)
    if refused is not None:
        return refused
    fields = _fields(request)
    try:
        created = launch_create(
            user=user,
            patient_id=str(fields.get("patient", "")),
            encounter_id=str(fields.get("encounter", "")),
        )
    except LaunchRefused as refusal:
        return _error(refusal.status, "invalid_request", str(refusal))
    response = JsonResponse(
        {"launch": created.launch_id, "expires_in": access_settings()["LAUNCH_SECONDS"]}
    )
    response["Cache-Control"] = "no-store"
    return response
