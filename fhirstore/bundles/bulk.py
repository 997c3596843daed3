"""The ingest fast path: new resources validated up front, then written with a few bulk INSERTs.

A transaction of N creates would cost N × (Resource + ResourceVersion + compartment + index
statements) through the one-at-a-time write path; here the same rows go in as one INSERT per
table for the whole batch, inside the caller's transaction. Content is validated and stamped by
`writes.prepare`, exactly as a single create is, so what is stored is the same.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from fhirstore import compartment, events, provenance, writes
from fhirstore.bundles import pgcopy
from fhirstore.errors import Conflict
from fhirstore.models import CompartmentMember, Resource, ResourceVersion
from fhirstore.search import indexer
from fhirstore.stored import Stored


@dataclass(frozen=True)
class NewResource:
    """A validated, stamped version 1 ready to insert, with its search-index rows."""

    resource_type: str
    logical_id: str
    doc: dict[str, Any]
    text: bytes
    method: str
    index: indexer.Rows


def prepare_new(
    *, doc: dict[str, Any], logical_id: str, moment: datetime, method: str
) -> NewResource:
    """Stamp and validate `doc` as version 1 of (type, `logical_id`); InvalidResource if invalid.

    The index rows are extracted here too, so that this CPU work happens before the database
    transaction opens (or, in bulk ingest, while the previous batch is being written)."""
    stamped, text = writes.prepare(doc, logical_id=logical_id, version=1, moment=moment)
    rows = indexer.rows_for(stamped)
    return NewResource(str(doc["resourceType"]), logical_id, stamped, text, method, rows)


def create_many(items: list[NewResource], *, moment: datetime) -> list[Stored]:
    """Insert `items` as new resources (current row, version row, compartments, index).

    The caller holds the transaction. Conflict (409) when one of the ids was taken meanwhile.
    """
    if not items:
        return []
    rows = [
        Resource(
            resource_type=item.resource_type,
            logical_id=item.logical_id,
            version=1,
            last_updated=moment,
            deleted=False,
        )
        for item in items
    ]
    texts = [item.text.decode() for item in items]
    patients = [compartment.patients_of(item.doc) for item in items]
    try:
        with transaction.atomic():
            _insert(rows, texts, [item.method for item in items], patients)
    except IntegrityError:
        raise Conflict(
            "A resource in the Bundle was created concurrently under its id; retry"
        ) from None
    indexer.index_new([(row, item.index) for row, item in zip(rows, items, strict=True)])
    stored = [
        Stored(item.resource_type, item.logical_id, 1, moment, False, item.text, item.method)
        for item in items
    ]
    provenance.note_written(stored)
    events.changed(stored)
    return stored


def _insert(
    rows: list[Resource], texts: list[str], methods: list[str], patients: list[set[str]]
) -> None:
    if connection.vendor == "postgresql":
        pgcopy.copy_new(rows, texts, methods, patients)
        return
    for row, text, ids in zip(rows, texts, patients, strict=True):
        row.text = text
        row.patients = " ".join(sorted(ids))
    Resource.objects.bulk_create(rows)
    ResourceVersion.objects.bulk_create(
        [
            ResourceVersion(
                resource=row,
                resource_type=row.resource_type,
                logical_id=row.logical_id,
                version=1,
                last_updated=row.last_updated,
                method=method,
                deleted=False,
                text=row.text,
                patients=row.patients,
            )
            for row, method in zip(rows, methods, strict=True)
        ]
    )
    CompartmentMember.objects.bulk_create(
        [
            CompartmentMember(resource=row, resource_type=row.resource_type, patient_id=patient)
            for row, ids in zip(rows, patients, strict=True)
            for patient in sorted(ids)
        ]
    )
