"""Claiming a background job with a lease, so that no job runs twice and a dead worker's job is
taken over once its lease runs out. Shared by export and import jobs (same lease columns)."""

import uuid
from datetime import timedelta
from typing import Any, TypeVar

from django.db.models import F, Model, Q
from django.utils import timezone

from integrations import conf

JobT = TypeVar("JobT", bound=Model)


def job_claim(
    model: type[JobT], *, job_id: uuid.UUID, runner: str, active: tuple[Any, ...], running: Any
) -> JobT | None:
    """The job, now RUNNING under `runner`'s lease, or None when another runner holds it or it is
    no longer active. One conditional UPDATE decides, so two workers cannot both win."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = model._default_manager.filter(free, pk=job_id, status__in=active).update(
        status=running,
        runner=runner,
        lease_until=now + timedelta(seconds=conf.lease_seconds()),
        attempts=F("attempts") + 1,
    )
    return model._default_manager.get(pk=job_id) if claimed else None
