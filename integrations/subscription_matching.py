"""Which active Subscriptions a committed write concerns, found cheaply.

The store announces every committed write (`fhirstore.events`). Most writes concern no
Subscription, so the first test is against the set of resource types some active Subscription
searches, kept in memory per process for `TYPES_CACHE_SECONDS` (dropped at once in the process
that writes a Subscription; other processes see a change within that time). Only writes of those
types are handed on (to a worker) and matched: one SQL query per Subscription of that type, the
search engine's own query for the criteria under the creator's access, narrowed to the written
ids. A delete is matched inside its transaction, before its index rows are removed, and its
notifications are scheduled for when it commits.
"""

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from fhirstore import events
from fhirstore.models import Resource
from fhirstore.search.engine import matching_rows
from fhirstore.stored import Stored
from integrations.services import scope_from_json
from integrations.subscription_models import Subscriber

_DEFAULTS: dict[str, Any] = {
    "MAX_ATTEMPTS": 5,
    "RETRY_SECONDS": 2.0,
    "TIMEOUT_SECONDS": 5.0,
    "TYPES_CACHE_SECONDS": 1.0,
    "RUN_IN_THREAD": True,
}
_lock = threading.Lock()
_memo: tuple[float, frozenset[str]] | None = None


def setting(name: str) -> Any:
    """A value of `settings.SUBSCRIPTIONS`, or its default."""
    configured: dict[str, Any] = getattr(settings, "SUBSCRIPTIONS", {})
    return configured.get(name, _DEFAULTS[name])


@dataclass(frozen=True)
class Change:
    """One committed write of a type some Subscription watches (JSON-safe for the broker)."""

    resource_type: str
    id: str
    version: int
    event: str  # "create", "update" or "delete"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Change":
        return cls(str(data["resource_type"]), str(data["id"]), int(data["version"]), data["event"])


@dataclass(frozen=True)
class Notification:
    """One delivery to make: this Subscription heard about this change."""

    subscriber: int
    change: Change

    def to_json(self) -> dict[str, Any]:
        return {"subscriber": self.subscriber, "change": self.change.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Notification":
        return cls(int(data["subscriber"]), Change.from_json(data["change"]))


def active_types() -> frozenset[str]:
    """Resource types that at least one active Subscription searches (memoised briefly)."""
    global _memo
    now = time.monotonic()
    memo = _memo
    if memo is not None and now - memo[0] < float(setting("TYPES_CACHE_SECONDS")):
        return memo[1]
    rows = Subscriber.objects.filter(active=True).values_list("resource_type", flat=True)
    types = frozenset(rows.distinct())
    with _lock:
        _memo = (now, types)
    return types


def forget_active_types() -> None:
    """Drop this process's memo (after a Subscription was written here)."""
    global _memo
    with _lock:
        _memo = None


def _event(stored: Stored) -> str:
    return "create" if stored.version == 1 or stored.method == "POST" else "update"


def _stale_subscriptions(stored: list[Stored]) -> None:
    """A Subscription written some other way (in a Bundle, say) than through
    `integrations.subscriptions` was not checked: stop it until it is PUT again."""
    for version in stored:
        if version.resource_type == "Subscription":
            changed = Subscriber.objects.filter(logical_id=version.id, active=True)
            if changed.exclude(version=version.version).update(
                active=False, error="Changed outside PUT /Subscription; PUT it again to resume"
            ):
                forget_active_types()


def on_changed(stored: list[Stored]) -> None:
    """Change listener (after commit): hand the writes of watched types to the notifier."""
    _stale_subscriptions(stored)
    types = active_types()
    if not types:
        return
    changes = [
        Change(s.resource_type, s.id, s.version, _event(s))
        for s in stored
        if s.resource_type in types and not s.deleted
    ]
    if changes:
        from integrations.subscription_tasks import changes_dispatch

        changes_dispatch(changes=changes)


def on_deleting(row: Resource) -> None:
    """Delete listener (inside the transaction): match now, notify once the delete commits."""
    if row.resource_type not in active_types():
        return
    change = Change(row.resource_type, row.logical_id, row.version + 1, "delete")
    found = notifications_for(changes=[change])
    if found:
        from integrations.subscription_tasks import notifications_dispatch

        transaction.on_commit(lambda: notifications_dispatch(notifications=found), robust=True)


def register() -> None:
    """Plug the listeners into the store (from `AppConfig.ready`)."""
    events.on_resource_changed(on_changed)
    events.on_resource_deleting(on_deleting)


def _matched(subscriber: Subscriber, ids: list[str]) -> dict[str, int]:
    """Of `ids`, those the Subscription's criteria match under its creator's access: id → version
    (one query)."""
    from integrations.subscriptions import criteria_request

    _, request = criteria_request(f"{subscriber.resource_type}?{subscriber.criteria}")
    rows = matching_rows(request=request, scope=scope_from_json(subscriber.scope))
    return dict(rows.filter(logical_id__in=ids).values_list("logical_id", "version"))


def notifications_for(*, changes: list[Change]) -> list[Notification]:
    """Every (Subscription, change) pair to deliver. The criteria are matched against the
    resource as it is now (its index rows): a change of a resource deleted since is left to the
    delete's own notification, which was matched before the delete."""
    by_type: dict[str, list[Change]] = {}
    for change in changes:
        by_type.setdefault(change.resource_type, []).append(change)
    found: list[Notification] = []
    for resource_type, group in by_type.items():
        ids = sorted({change.id for change in group})
        for subscriber in Subscriber.objects.filter(active=True, resource_type=resource_type):
            current = _matched(subscriber, ids)
            found += [
                Notification(subscriber.pk, change) for change in group if change.id in current
            ]
    return found
