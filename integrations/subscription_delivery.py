"""Delivering one notification, and what happens when an endpoint keeps failing.

A rest-hook notification is a POST to the Subscription's endpoint with its `channel.header`
lines: the resource version that matched as the body when `payload` is `application/fhir+json`,
no body when it is empty (the subscriber then reads or searches with `_lastUpdated`), and no body
for a delete. The resource is read again under the creator's access, so nothing they could not
read leaves the server. Any 2xx is a success. A failure is retried with exponential backoff
(`RETRY_SECONDS` × 2^attempt); when the last of `MAX_ATTEMPTS` fails, or at once when the
endpoint may no longer be called (it now resolves to an internal address), the Subscription is
stored as a new version with `status` `error` and the reason in `error`, and it stops notifying.
https://hl7.org/fhir/R4/subscription.html#rest-hook
"""

import logging
from enum import Enum

from django.db import transaction
from django.utils import timezone

from fhirstore import jsontext
from fhirstore.context import AccessScope
from fhirstore.errors import FhirError
from fhirstore.repository import Repository
from integrations.services import scope_from_json
from integrations.subscription_endpoints import endpoint_check, post
from integrations.subscription_matching import Notification, setting
from integrations.subscription_models import Subscriber

logger = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
_NOTIFIER = AccessScope(
    readable=frozenset({"Subscription"}),
    writable=frozenset({"Subscription"}),
    actor="system:subscriptions",
)


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GAVE_UP = "gave up"
    DROPPED = "dropped"


def backoff_seconds(attempt: int) -> float:
    """The wait before retry number `attempt + 1` (attempt 0 is the first delivery)."""
    return float(setting("RETRY_SECONDS")) * (2**attempt)


def _headers(subscriber: Subscriber, notification: Notification, body: bytes) -> dict[str, str]:
    change = notification.change
    headers = {
        "User-Agent": "fhir-subscriptions",
        "X-Subscription": f"Subscription/{subscriber.logical_id}",
        "X-Subscription-Event": change.event,
        "X-Subscription-Resource": f"{change.resource_type}/{change.id}/_history/{change.version}",
    }
    if body:
        headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    for line in subscriber.headers:
        name, _, value = str(line).partition(":")
        headers[name.strip()] = value.strip()
    return headers


def _body(subscriber: Subscriber, notification: Notification) -> bytes:
    """The version that matched, read under the creator's access (b"" when there is none)."""
    change = notification.change
    if not subscriber.payload or change.event == "delete":
        return b""
    repo = Repository(scope=scope_from_json(subscriber.scope))
    stored = repo.vread(
        resource_type=change.resource_type, logical_id=change.id, version=str(change.version)
    )
    return stored.text


class _Refused(Exception):
    """A failure no retry can mend: the endpoint may not be called, or the resource not read."""


class _Unreadable(Exception):
    """The version is no longer readable under the creator's access (moved to another patient's
    record since it matched): nothing to send, and nothing wrong with the Subscription."""


def _send(subscriber: Subscriber, notification: Notification) -> str:
    """'' on success, else why it failed (_Refused when retrying is pointless)."""
    try:
        body = _body(subscriber, notification)
    except FhirError as error:
        raise _Unreadable(error.diagnostics) from None
    try:
        target = endpoint_check(subscriber.endpoint)
    except FhirError as error:
        raise _Refused(error.diagnostics) from None
    try:
        status = post(
            target,
            body=body,
            headers=_headers(subscriber, notification, body),
            timeout=float(setting("TIMEOUT_SECONDS")),
        )
    except OSError as error:
        return f"could not reach the endpoint: {error}"
    return "" if 200 <= status < 300 else f"the endpoint answered HTTP {status}"


def notification_attempt(*, notification: Notification, attempt: int) -> Outcome:
    """Try one delivery; on failure say whether to retry, or mark the Subscription in error."""
    subscriber = Subscriber.objects.filter(pk=notification.subscriber, active=True).first()
    if subscriber is None:
        return Outcome.DROPPED
    try:
        failure = _send(subscriber, notification)
    except _Unreadable:
        return Outcome.DROPPED
    except _Refused as refused:
        subscription_error(subscriber_pk=subscriber.pk, reason=str(refused), attempts=attempt + 1)
        return Outcome.GAVE_UP
    if not failure:
        return Outcome.DELIVERED
    logger.info("notification for Subscription/%s failed: %s", subscriber.logical_id, failure)
    if attempt + 1 < int(setting("MAX_ATTEMPTS")):
        return Outcome.RETRY
    subscription_error(subscriber_pk=subscriber.pk, reason=failure, attempts=attempt + 1)
    return Outcome.GAVE_UP


def subscription_error(*, subscriber_pk: int, reason: str, attempts: int) -> None:
    """Stop a Subscription: a new version with status `error` and the reason; its row inactive."""
    message = f"Delivery failed (attempt {attempts}): {reason}"[:1000]
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(pk=subscriber_pk).first()
        if subscriber is None or not subscriber.active:
            return
        repo = Repository(scope=_NOTIFIER)
        doc = jsontext.loads(
            repo.read(resource_type="Subscription", logical_id=subscriber.logical_id).text
        )
        doc.update(status="error", error=message)
        doc.pop("meta", None)
        result = repo.update(
            resource_type="Subscription", logical_id=subscriber.logical_id, doc=doc
        )
        subscriber.active, subscriber.error = False, message
        subscriber.version, subscriber.updated = result.stored.version, timezone.now()
        subscriber.save(update_fields=["active", "error", "version", "updated"])
    from integrations.subscription_matching import forget_active_types

    forget_active_types()
    logger.warning("Subscription/%s set to error: %s", subscriber.logical_id, message)
