"""The SMART `management_endpoint` page, `/account/apps`: the signed-in person sees the apps with
access to their record and revokes any with a plain HTML form button (POST, CSRF-protected, no
script), under the same strict Content-Security-Policy as the login pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from access.connected_apps import connected_app_revoke, connected_apps
from access.pages import strict_page
from fhirstore.errors import NotFound

PAGE = "/account/apps"


@strict_page
@login_required
@require_GET
def apps_page(request: HttpRequest) -> HttpResponse:
    """The list of connected apps, each with a Revoke button."""
    revoked = request.GET.get("revoked") == "1"
    apps = connected_apps(user=request.user)
    return render(request, "access/apps.html", {"apps": apps, "revoked": revoked})


@strict_page
@login_required
@require_POST
def app_revoke(request: HttpRequest, app_id: int) -> HttpResponse:
    """Revoke one app, then back to the list (303, so a reload does not post again)."""
    try:
        connected_app_revoke(user=request.user, app_id=app_id)
    except NotFound:
        return render(request, "access/apps.html", {"apps": [], "missing": True}, status=404)
    return HttpResponseRedirect(f"{PAGE}?revoked=1", status=303)
