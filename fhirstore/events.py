"""Change events of the store: a tiny registry of listeners that apps plug into at start-up.

The store must not import the apps, yet some of them (change notifications) need to hear about
every write. An app registers a listener in its `AppConfig.ready`; the write path calls
`changed(...)` with the versions it stored, and each listener runs once the database transaction
commits (`transaction.on_commit`), so a rolled-back write is never announced. A delete also calls
`deleting(...)` inside the transaction, before the resource's index rows go: a listener that must
evaluate search criteria against the deleted resource can only do it then. With no listener
registered both calls cost a list check.
"""

import logging
from collections.abc import Callable

from django.db import transaction

from fhirstore.models import Resource
from fhirstore.stored import Stored

logger = logging.getLogger(__name__)

ChangeListener = Callable[[list[Stored]], None]
DeleteListener = Callable[[Resource], None]

_changed: list[ChangeListener] = []
_deleting: list[DeleteListener] = []


def on_resource_changed(listener: ChangeListener) -> None:
    """Call `listener(stored_versions)` after each committed write (registering again: no-op)."""
    if listener not in _changed:
        _changed.append(listener)


def on_resource_deleting(listener: DeleteListener) -> None:
    """Call `listener(current_row)` inside a delete's transaction, before anything is changed."""
    if listener not in _deleting:
        _deleting.append(listener)


def changed(stored: list[Stored]) -> None:
    """Schedule the change listeners for when the current transaction commits."""
    if not _changed or not stored:
        return
    versions = list(stored)
    for listener in _changed:
        # robust: a failing listener is logged; the write itself has already committed.
        transaction.on_commit(_bound(listener, versions), robust=True)


def deleting(row: Resource) -> None:
    """Run the delete listeners now (the caller holds the row lock and the transaction)."""
    for listener in _deleting:
        listener(row)


def _bound(listener: ChangeListener, versions: list[Stored]) -> Callable[[], None]:
    return lambda: listener(versions)
