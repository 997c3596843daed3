"""Batch: every entry on its own, in its own database transaction, with its own status.

A failing entry does not affect the others; its `response` carries the status and an
OperationOutcome. Entries may not depend on each other, so fullUrls are not resolved.
https://hl7.org/fhir/R4/http.html#transaction
"""

from django.db import transaction

from fhirstore.bundles import interactions
from fhirstore.bundles.envelope import Entry, at_entry
from fhirstore.bundles.response import EntryResult, failure
from fhirstore.errors import FhirError
from fhirstore.repository import Repository


def run_batch(*, repo: Repository, entries: list[Entry]) -> list[EntryResult]:
    """Results in entry order; failures become results, never exceptions."""
    return [_run_one(repo, entry) for entry in entries]


def _run_one(repo: Repository, entry: Entry) -> EntryResult:
    try:
        with transaction.atomic():
            return _dispatch(repo, entry)
    except FhirError as error:
        return failure(at_entry(error, entry))


def _dispatch(repo: Repository, entry: Entry) -> EntryResult:
    if entry.method in ("GET", "HEAD"):
        return interactions.get(repo, entry)
    if entry.method == "POST":
        return interactions.create(repo, entry)
    if entry.method == "PUT" and entry.query is not None:
        return interactions.conditional_update(repo, entry)
    if entry.method == "PUT":
        assert entry.logical_id is not None
        return interactions.update(repo, entry, logical_id=entry.logical_id)
    if entry.method == "PATCH":
        return interactions.patch(repo, entry)
    if entry.query is not None:
        return interactions.conditional_delete(repo, entry)
    return interactions.delete(repo, entry, logical_id=entry.logical_id)
