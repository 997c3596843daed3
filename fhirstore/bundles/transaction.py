"""Transaction: all entries or none, in one database transaction, in the order the spec sets.

DELETE first, then POST, then PUT and PATCH, then GET, so reads see the transaction's writes
(https://hl7.org/fhir/R4/http.html#trules). New resources are validated while planning and
inserted in bulk; updates, patches and deletes go through the repository one by one. When the
plan needs no search (no conditional URLs or references), validation runs before the database
transaction opens, so the write lock is held only for the writes.
"""

from contextlib import nullcontext

from django.db import transaction

from fhirstore.bundles import interactions
from fhirstore.bundles.bulk import create_many
from fhirstore.bundles.envelope import Entry, blame
from fhirstore.bundles.plan import Plan, make_plan, needs_lookups
from fhirstore.bundles.response import EntryResult
from fhirstore.repository import Repository

PHASES = (("DELETE",), ("POST",), ("PUT", "PATCH"), ("GET", "HEAD"))


def run_transaction(*, repo: Repository, entries: list[Entry]) -> list[EntryResult]:
    """Results in entry order; the first failure rolls everything back and is raised."""
    lookups = transaction.atomic() if needs_lookups(entries) else nullcontext()
    with lookups:
        plan = make_plan(repo=repo, entries=entries)
        with transaction.atomic():
            results: dict[int, EntryResult] = {}
            for methods in PHASES:
                results.update(_run_phase(repo, plan, methods))
    return [results[entry.index] for entry in entries]


def _run_phase(repo: Repository, plan: Plan, methods: tuple[str, ...]) -> dict[int, EntryResult]:
    entries = [entry for entry in plan.entries if entry.method in methods]
    results: dict[int, EntryResult] = {}
    bulk = [entry for entry in entries if entry.index in plan.new]
    for entry in entries:
        if entry.index not in plan.new:
            with blame(entry):
                results[entry.index] = _one(repo, plan, entry)
    created = create_many([plan.new[entry.index] for entry in bulk], moment=plan.moment)
    results.update(
        {entry.index: EntryResult(201, stored) for entry, stored in zip(bulk, created, strict=True)}
    )
    return results


def _one(repo: Repository, plan: Plan, entry: Entry) -> EntryResult:
    target = plan.targets.get(entry.index)
    if entry.index in plan.matched:
        return EntryResult(200, plan.matched[entry.index])
    if entry.method == "DELETE":
        return interactions.delete(repo, entry, logical_id=target)
    if entry.method == "PUT":
        assert target is not None
        return interactions.update(repo, entry, logical_id=target)
    if entry.method == "PATCH":
        return interactions.patch(repo, entry)
    return interactions.get(repo, entry)
