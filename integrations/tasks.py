"""Celery tasks of the export jobs, and how a job is scheduled in either mode.

With a broker (`REDIS_URL`), `export_dispatch` sends the job to a worker; `acks_late` with
`reject_on_worker_lost` gives the task back to the queue when a worker process dies, a lost
database connection is retried, and `export_recover` (on worker start and on beat) re-sends jobs
whose worker vanished without a trace. Embedded (no broker), the job runs on a thread of the web
process, so the kick-off still answers at once; a stale job is re-dispatched when polled.
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
from integrations.exporting import export_fail, export_run
from integrations.models import ExportJob, ExportStatus
from integrations.services import export_cleanup

logger = logging.getLogger(__name__)


@shared_task(
    name="integrations.export_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
)
def export_run_task(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
    """Run or resume one export job."""
    try:
        return _run(uuid.UUID(job_id))
    except (OperationalError, InterfaceError) as error:
        close_old_connections()
        raise self.retry(exc=error, countdown=5) from error


def _run(job_id: uuid.UUID) -> str:
    """Run the job; an unexpected error fails it with the error named (and is logged)."""
    try:
        return export_run(job_id=job_id)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        export_fail(job_id=job_id, error=f"The export failed: {type(error).__name__}: {error}")
        return "failed"


@shared_task(name="integrations.export_recover", acks_late=True)
def export_recover() -> int:
    """Re-dispatch active jobs whose lease ran out (their worker died); returns how many."""
    now = timezone.now()
    lease = timedelta(seconds=conf.lease_seconds())
    stale = ExportJob.objects.filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, created__lt=now - lease),
        status__in=(ExportStatus.ACCEPTED, ExportStatus.RUNNING),
    )
    job_ids = list(stale.values_list("pk", flat=True))
    for job_id in job_ids:
        export_dispatch(job_id=job_id)
    return len(job_ids)


@shared_task(name="integrations.export_cleanup", acks_late=True)
def export_cleanup_task() -> int:
    """Delete expired jobs and their files (scheduled on beat)."""
    return export_cleanup()


def export_dispatch(*, job_id: uuid.UUID) -> None:
    """Schedule a job: on a worker through the broker, or on a thread when embedded."""
    if conf.run_in_thread():
        threading.Thread(target=_run_on_thread, args=(job_id,), daemon=True).start()
    else:
        export_run_task.delay(str(job_id))


def _run_on_thread(job_id: uuid.UUID) -> None:
    try:
        _run(job_id)
    except Exception:
        logger.exception("export job %s stopped", job_id)
    finally:
        connections.close_all()


def export_redispatch_if_stale(*, job: ExportJob) -> None:
    """Embedded mode's recovery, on each status poll: a job whose thread died runs again."""
    if not conf.run_in_thread() or job.status not in (ExportStatus.ACCEPTED, ExportStatus.RUNNING):
        return
    now = timezone.now()
    lease = timedelta(seconds=conf.lease_seconds())
    stale = job.lease_until < now if job.lease_until else job.created < now - lease
    if stale:
        export_dispatch(job_id=job.id)


@worker_ready.connect
def _recover_on_worker_start(**_: object) -> None:
    """Jobs a killed worker left behind resume as soon as a worker is back."""
    export_recover.delay()
