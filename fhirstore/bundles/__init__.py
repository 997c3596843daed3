"""Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction).

`process_bundle` checks the envelope, runs the entries (a transaction all or nothing, a batch
entry by entry) and returns the response Bundle as JSON bytes. `run_bundle` gives the per-entry
results instead, for callers such as `load_fhir` that report on them. Note that the resources of
the request Bundle are rewritten in place while references are resolved.
"""

from dataclasses import dataclass
from typing import Any

from fhirstore.bundles.batch import run_batch
from fhirstore.bundles.envelope import bundle_type, parse_entries
from fhirstore.bundles.response import EntryResult, bundle_bytes
from fhirstore.bundles.transaction import run_transaction
from fhirstore.repository import Repository

__all__ = ["BundleOutcome", "EntryResult", "process_bundle", "run_bundle"]


@dataclass(frozen=True)
class BundleOutcome:
    """The kind of Bundle processed and one result per request entry, in entry order."""

    kind: str
    results: list[EntryResult]


def run_bundle(*, repo: Repository, bundle: dict[str, Any]) -> BundleOutcome:
    """Run a transaction or batch; a failed transaction raises the failing entry's FhirError."""
    kind = bundle_type(bundle)
    entries = parse_entries(bundle)
    if kind == "transaction":
        return BundleOutcome(kind, run_transaction(repo=repo, entries=entries))
    return BundleOutcome(kind, run_batch(repo=repo, entries=entries))


def wants_representation(prefer: str | None) -> bool:
    """`Prefer: return=representation` puts each written resource in its response entry."""
    return "return=representation" in (prefer or "").replace(" ", "").lower()


def process_bundle(*, repo: Repository, bundle: dict[str, Any], prefer: str | None = None) -> bytes:
    """The `transaction-response` or `batch-response` Bundle as JSON bytes.

    Resources appear in the response only for GET entries and, with `prefer`
    `return=representation`, for writes; by default the response is minimal.
    """
    outcome = run_bundle(repo=repo, bundle=bundle)
    return bundle_bytes(
        f"{outcome.kind}-response", outcome.results, representation=wants_representation(prefer)
    )
