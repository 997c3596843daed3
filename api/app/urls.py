"""Routes of the app API, mounted at /api/v1/."""

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

from api.app import access_log, connected_apps, proxies
from api.app.problems import PROBLEM_JSON


def unknown_route(request: HttpRequest) -> HttpResponse:
    """Anything else under /api/v1/: a problem+json 404, never Django's HTML page."""
    body = b'{"type":"about:blank","title":"Not found","status":404,"detail":"No such endpoint"}'
    return HttpResponse(body, status=404, content_type=PROBLEM_JSON)


urlpatterns = [
    path("me/apps", connected_apps.ConnectedAppsView.as_view(), name="app-me-apps"),
    path("me/apps/<int:app_id>", connected_apps.ConnectedAppView.as_view(), name="app-me-app"),
    path("me/proxies", proxies.ProxiesView.as_view(), name="app-me-proxies"),
    re_path(
        r"^me/proxies/(?P<consent_id>[A-Za-z0-9\-\.]{1,64})$",
        proxies.ProxyView.as_view(),
        name="app-me-proxy",
    ),
    path("me/access-log", access_log.AccessLogView.as_view(), name="app-me-access-log"),
    re_path(r"^.*$", unknown_route, name="app-unknown"),
]
