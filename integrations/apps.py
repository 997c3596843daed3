"""Django app configuration of `integrations`."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the worker_ready signal that re-enqueues jobs a killed worker left behind; the
        # other task modules register the $import and change-notification tasks with Celery.
        from integrations import import_tasks, subscription_matching, subscription_tasks, tasks

        del import_tasks, subscription_tasks, tasks
        # Change notifications hear about every committed write through the store's listeners.
        subscription_matching.register()
