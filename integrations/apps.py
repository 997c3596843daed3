"""Django app configuration of `integrations`."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the worker_ready signal that re-enqueues jobs a killed worker left behind.
        from integrations import tasks  # noqa: F401
