"""Celery tasks of the change notifications, and how they are scheduled in either mode.

With a broker (`REDIS_URL`), a committed write of a watched type becomes one `match` task; the
worker finds the notifications and sends each as its own `deliver` task, which retries itself
with exponential backoff (`countdown`), so a slow or failing endpoint holds up nobody else.
Embedded (no broker), the same functions run on a thread of the web process, which retries by
sleeping, so the write that caused them still answers at once.
"""

import logging
import threading
import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connections

from integrations.subscription_delivery import Outcome, backoff_seconds, notification_attempt
from integrations.subscription_matching import Change, Notification, notifications_for, setting

logger = logging.getLogger(__name__)
_sleep = time.sleep


@shared_task(name="integrations.subscriptions_match", acks_late=True)
def match_task(changes: list[dict[str, Any]]) -> int:
    """Find the notifications of some committed changes and queue each delivery."""
    found = notifications_for(changes=[Change.from_json(c) for c in changes])
    for notification in found:
        deliver_task.delay(notification.to_json())
    return len(found)


@shared_task(name="integrations.subscription_deliver", bind=True, acks_late=True, max_retries=None)
def deliver_task(self, notification: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """Deliver one notification; a failure comes back after the backoff, up to MAX_ATTEMPTS."""
    attempt = int(self.request.retries)
    outcome = notification_attempt(
        notification=Notification.from_json(notification), attempt=attempt
    )
    if outcome is Outcome.RETRY:
        raise self.retry(countdown=backoff_seconds(attempt))
    return outcome.value


def _embedded() -> bool:
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", True))


def deliver_with_retries(*, notification: Notification) -> Outcome:
    """The embedded mode's delivery: try, sleep the backoff, try again."""
    attempt = 0
    while True:
        outcome = notification_attempt(notification=notification, attempt=attempt)
        if outcome is not Outcome.RETRY:
            return outcome
        _sleep(backoff_seconds(attempt))
        attempt += 1


def _run_local(changes: list[Change], found: list[Notification] | None) -> None:
    try:
        for notification in found if found is not None else notifications_for(changes=changes):
            deliver_with_retries(notification=notification)
    except Exception:
        logger.exception("change notifications failed")


def _local(changes: list[Change], found: list[Notification] | None = None) -> None:
    if not setting("RUN_IN_THREAD"):
        _run_local(changes, found)
        return

    def run() -> None:
        try:
            _run_local(changes, found)
        finally:
            connections.close_all()

    threading.Thread(target=run, daemon=True, name="subscriptions").start()


def changes_dispatch(*, changes: list[Change]) -> None:
    """Match and deliver `changes`: on a worker through the broker, else on a thread."""
    if _embedded():
        _local(changes)
    else:
        match_task.delay([change.to_json() for change in changes])


def notifications_dispatch(*, notifications: list[Notification]) -> None:
    """Deliver notifications already matched (deletes are matched before they commit)."""
    if _embedded():
        _local([], notifications)
    else:
        for notification in notifications:
            deliver_task.delay(notification.to_json())
