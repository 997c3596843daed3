"""Celery task of the `$import` jobs, and how a job is scheduled in either mode.

With a broker (`REDIS_URL`) `import_dispatch` sends the job to a worker (`acks_late` with
`reject_on_worker_lost`: a job whose worker dies goes back to the queue and resumes after its
last committed batch); `import_recover` (on worker start and on beat) re-sends jobs whose lease
ran out. Embedded (no broker) it runs on a thread of the web process, so the kick-off answers at
once, and a job whose thread died is run again when its status is polled.
"""

import logging
import threading
import uuid
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.db.models import Q
from django.utils import timezone

from integrations import conf
from integrations.import_models import ImportJob, ImportStatus
from integrations.importing import import_fail, import_run

logger = logging.getLogger(__name__)


@shared_task(name="integrations.import_run", bind=True, acks_late=True, reject_on_worker_lost=True)
def import_run_task(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
    """Run or resume one import job."""
    try:
        return _run(uuid.UUID(job_id))
    except (OperationalError, InterfaceError) as error:
        close_old_connections()
        raise self.retry(exc=error, countdown=5, max_retries=5) from error


def _run(job_id: uuid.UUID) -> str:
    try:
        return import_run(job_id=job_id)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        logger.exception("import job %s failed", job_id)
        import_fail(job_id=job_id, error=f"The import failed: {type(error).__name__}: {error}")
        return "failed"


def import_dispatch(*, job_id: uuid.UUID) -> None:
    """Schedule a job: on a worker through the broker, or on a thread when embedded."""
    if conf.run_in_thread():
        threading.Thread(target=_run_on_thread, args=(job_id,), daemon=True).start()
    else:
        import_run_task.delay(str(job_id))


def _run_on_thread(job_id: uuid.UUID) -> None:
    try:
        _run(job_id)
    finally:
        connections.close_all()


def _stale() -> Q:
    now = timezone.now()
    lease = timedelta(seconds=conf.lease_seconds())
    return Q(lease_until__lt=now) | Q(lease_until__isnull=True, created__lt=now - lease)


@shared_task(name="integrations.import_recover", acks_late=True)
def import_recover() -> int:
    """Re-dispatch active jobs whose worker stopped (lease ran out); returns how many."""
    active = (ImportStatus.ACCEPTED, ImportStatus.RUNNING)
    job_ids = list(
        ImportJob.objects.filter(_stale(), status__in=active).values_list("pk", flat=True)
    )
    for job_id in job_ids:
        import_dispatch(job_id=job_id)
    return len(job_ids)


def import_redispatch_if_stale(*, job: ImportJob) -> None:
    """Embedded mode's recovery, on each status poll."""
    if conf.run_in_thread() and ImportJob.objects.filter(_stale(), pk=job.pk).exists():
        import_dispatch(job_id=job.id)


@worker_ready.connect
def _recover_on_worker_start(**_: object) -> None:
    import_recover.delay()
