"""Provenance for writes: who wrote what, when, with which client (https://hl7.org/fhir/R4/provenance.html).

Writes made while `collecting()` is active are noted; the caller then records one Provenance
naming every version written, in the same database transaction as the writes. A client may send
its own Provenance in the `X-Provenance` header (https://hl7.org/fhir/R4/http.html#xprovenance):
its agents, reason and activity are kept, and the server fills in `target` and `recorded`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from fhirstore import fhirmodels, jsontext, writes
from fhirstore.errors import InvalidRequest
from fhirstore.stored import Stored, format_instant

_written: ContextVar[list[Stored] | None] = ContextVar("provenance_written", default=None)
_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_ACTIVITY = {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE", "DELETE": "DELETE"}
_AUTHOR = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "author",
        }
    ]
}


@contextmanager
def collecting() -> Iterator[list[Stored]]:
    """Note every version written inside the block (Provenance itself excluded)."""
    written: list[Stored] = []
    token = _written.set(written)
    try:
        yield written
    finally:
        _written.reset(token)


def note_written(stored: list[Stored]) -> None:
    collector = _written.get()
    if collector is not None:
        collector.extend(s for s in stored if s.resource_type != "Provenance")


def parse_header(value: str | None) -> dict[str, Any] | None:
    """The client's X-Provenance resource, or None; InvalidRequest when it is not a Provenance."""
    if not value:
        return None
    doc = jsontext.loads(value)
    if not isinstance(doc, dict) or doc.get("resourceType") != "Provenance":
        raise InvalidRequest("X-Provenance must hold a Provenance resource as JSON")
    return doc


def _default_agent(actor: str) -> dict[str, Any]:
    who: dict[str, Any] = {"display": actor}
    if "/" in actor and not actor.startswith(("user:", "client:")):
        who = {"reference": actor.split(" ")[0]}
    return {"type": _AUTHOR, "who": who}


def provenance_record(
    *, written: list[Stored], actor: str, template: dict[str, Any] | None
) -> None:
    """Write one Provenance naming every version in `written` (inside the caller's transaction)."""
    if not written:
        return
    doc = dict(template or {"resourceType": "Provenance"})
    doc.pop("id", None)
    doc["target"] = [{"reference": stored.location} for stored in written]
    doc.setdefault("recorded", format_instant(written[-1].last_updated))
    if "activity" not in doc and len({s.method for s in written}) == 1:
        code = _ACTIVITY.get(written[0].method)
        if code:
            doc["activity"] = {"coding": [{"system": _OPERATION, "code": code}]}
    if not doc.get("agent"):
        doc["agent"] = [_default_agent(actor)]
    writes.write_version(
        current=None,
        doc=doc,
        resource_type="Provenance",
        logical_id=writes.new_id(),
        method="POST",
        validate=_validate_with_one_target,
    )


def _validate_with_one_target(doc: dict[str, Any]) -> None:
    """Validate `doc` with only its first target: the targets are built here, each the same
    `{"reference": location}` of a stored version, and a transaction's Provenance names
    hundreds of them (validating each took about 5% of ingest's CPU). The client's template, its
    agents and the rest are validated in full."""
    fhirmodels.validate_resource({**doc, "target": doc["target"][:1]})
