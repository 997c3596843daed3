"""Django app configuration for the FHIR store."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class FhirStoreConfig(AppConfig):
    name = "fhirstore"
    verbose_name = "FHIR store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fhirstore.prepared import use_generic_plans

        connection_created.connect(use_generic_plans, dispatch_uid="fhirstore.generic_plans")
