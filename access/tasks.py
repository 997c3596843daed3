"""Background work of the access layer, run by the Celery worker (in-process when embedded)."""

from celery import shared_task

from access.audit_publish import audit_publish


@shared_task(name="access.publish_audit_events", acks_late=True)
def publish_audit_events() -> int:
    """Publish pending audit records as FHIR AuditEvents; safe to run concurrently (locked)."""
    return audit_publish()
