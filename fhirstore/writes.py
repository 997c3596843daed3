"""The write path: stamp, validate, serialise and persist one resource version.

Every write validates the stamped document, stores its JSON text in both the current row and the
version table, and refreshes compartment and search-index rows in the same database transaction,
so a crash at any point leaves either the whole write or nothing.
https://hl7.org/fhir/R4/http.html#update
"""

import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError

from fhirstore import characters, compartment, events, fhirmodels, jsontext, provenance
from fhirstore.errors import Conflict, InvalidResource, PreconditionFailed
from fhirstore.models import CompartmentMember, Resource, ResourceVersion
from fhirstore.search import indexer
from fhirstore.stored import Stored, format_instant


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    """The write time, truncated to the millisecond that meta.lastUpdated can express."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def stamp(
    doc: dict[str, Any], *, logical_id: str, version: int, moment: datetime
) -> dict[str, Any]:
    """`doc` with server-assigned id, meta.versionId and meta.lastUpdated, keeping key order."""
    meta = dict(doc.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = _instant(moment)
    stamped: dict[str, Any] = {"resourceType": doc["resourceType"], "id": logical_id, "meta": meta}
    for key, value in doc.items():
        if key not in stamped:
            stamped[key] = value
    return stamped


@functools.lru_cache(maxsize=16)
def _instant(moment: datetime) -> str:
    """`format_instant`, once per write time: a Bundle or an ingest batch shares one."""
    return format_instant(moment)


Validator = Callable[[dict[str, Any]], None]


def prepare(
    doc: dict[str, Any],
    *,
    logical_id: str,
    version: int,
    moment: datetime,
    validate: Validator = fhirmodels.validate_resource,
) -> tuple[dict[str, Any], bytes]:
    """Stamp and validate; return the stamped document and the exact text to store."""
    stamped = stamp(doc, logical_id=logical_id, version=version, moment=moment)
    validate(stamped)
    from fhirstore import narrative

    narrative.check(stamped)
    text = jsontext.dumps(stamped)
    characters.check_resource(stamped, text)
    return stamped, text


def check_if_match(current: Resource | None, if_match: str | None) -> None:
    """Honour If-Match: W/"n" must name the current version (412 otherwise)."""
    if if_match is None:
        return
    wanted = if_match.strip().removeprefix("W/").strip('"')
    if current is None or current.deleted or wanted != str(current.version):
        have = "none" if current is None else str(current.version)
        raise PreconditionFailed(f"If-Match {if_match} does not match the current version ({have})")


def lock_current(resource_type: str, logical_id: str) -> Resource | None:
    """The current row, locked for update until the transaction ends (PostgreSQL row lock)."""
    return (
        Resource.objects.select_for_update()
        .filter(resource_type=resource_type, logical_id=logical_id)
        .first()
    )


def _record_compartments(row: Resource, patients: set[str], *, new: bool) -> None:
    if not new:
        CompartmentMember.objects.filter(resource=row).delete()
    if patients:
        CompartmentMember.objects.bulk_create(
            [
                CompartmentMember(resource=row, resource_type=row.resource_type, patient_id=p)
                for p in sorted(patients)
            ]
        )


def persist(
    *,
    current: Resource | None,
    doc: dict[str, Any] | None,
    text: bytes,
    resource_type: str,
    logical_id: str,
    version: int,
    moment: datetime,
    method: str,
) -> Stored:
    """Write the version and current rows, then compartments and index (inside a transaction)."""
    deleted = doc is None
    if deleted and current is not None:
        events.deleting(current)
    row = current or Resource(resource_type=resource_type, logical_id=logical_id)
    patients = compartment.patients_of(doc) if doc else set()
    row.patients = " ".join(sorted(patients))
    row.version, row.last_updated, row.deleted = version, moment, deleted
    row.text = text.decode()
    new = current is None
    # No savepoint: an IntegrityError (two requests creating one client id at once) ends the
    # caller's transaction, which rolls back as the Conflict propagates.
    try:
        row.save(force_insert=new)
        ResourceVersion.objects.create(
            resource=row,
            resource_type=resource_type,
            logical_id=logical_id,
            version=version,
            last_updated=moment,
            method=method,
            deleted=deleted,
            text=row.text,
            patients=row.patients,
        )
    except IntegrityError:
        raise Conflict(f"{resource_type}/{logical_id} was written concurrently; retry") from None
    _record_compartments(row, patients, new=new)
    if deleted:
        indexer.unindex_resource(resource=row)
    else:
        assert doc is not None
        indexer.index_resource(resource=row, doc=doc)
    stored = Stored(resource_type, logical_id, version, moment, deleted, text, method)
    provenance.note_written([stored])
    events.changed([stored])
    return stored


def write_version(
    *,
    current: Resource | None,
    doc: dict[str, Any],
    resource_type: str,
    logical_id: str,
    method: str,
    validate: Validator = fhirmodels.validate_resource,
) -> Stored:
    """Validate and store `doc` as the next version of (type, id)."""
    if doc.get("resourceType") != resource_type:
        raise InvalidResource(f"resourceType must be {resource_type}", code="invariant")
    version = (current.version + 1) if current else 1
    moment = now()
    stamped, text = prepare(
        doc, logical_id=logical_id, version=version, moment=moment, validate=validate
    )
    return persist(
        current=current,
        doc=stamped,
        text=text,
        resource_type=resource_type,
        logical_id=logical_id,
        version=version,
        moment=moment,
        method=method,
    )


def write_tombstone(*, current: Resource) -> Stored:
    """Record a deletion as a new, empty version; history keeps what came before."""
    return persist(
        current=current,
        doc=None,
        text=b"",
        resource_type=current.resource_type,
        logical_id=current.logical_id,
        version=current.version + 1,
        moment=now(),
        method="DELETE",
    )
