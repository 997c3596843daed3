"""Django app configuration for the FHIR store."""

from django.apps import AppConfig


class FhirStoreConfig(AppConfig):
    name = "fhirstore"
    verbose_name = "FHIR store"
    default_auto_field = "django.db.models.BigAutoField"
