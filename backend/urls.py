"""URL routes: the FHIR REST API under /fhir and the app API under /api/v1."""

from django.urls import include, path, re_path

from access import apps_views
from access.discovery import smart_configuration_view
from access.urls import account_urlpatterns

urlpatterns = [
    # SMART on FHIR authorisation (access/): discovery, the OAuth endpoints, the login page.
    re_path(r"^fhir/\.well-known/smart-configuration/?$", smart_configuration_view),
    path("oauth/", include("access.urls")),
    path("accounts/", include(account_urlpatterns)),
    path("fhir", include("api.fhir.urls")),
    # The app API, and the SMART management_endpoint page for connected apps.
    path("api/v1/", include("api.app.urls")),
    path("account/apps", apps_views.apps_page, name="account-apps"),
    path("account/apps/<int:app_id>/revoke", apps_views.app_revoke, name="account-app-revoke"),
]
