"""URL routes: the FHIR REST API under /fhir and the app API under /api/v1."""

from django.urls import include, path, re_path

from access.discovery import smart_configuration_view
from access.urls import account_urlpatterns

urlpatterns = [
    # SMART on FHIR authorisation (access/): discovery, the OAuth endpoints, the login page.
    re_path(r"^fhir/\.well-known/smart-configuration/?$", smart_configuration_view),
    path("oauth/", include("access.urls")),
    path("accounts/", include(account_urlpatterns)),
    path("fhir", include("api.fhir.urls")),
]
