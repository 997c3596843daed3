"""URL routes: the FHIR REST API under /fhir and the app API under /api/v1."""

from django.urls import include, path

urlpatterns = [
    path("fhir", include("api.fhir.urls")),
]
