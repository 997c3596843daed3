"""Helpers for the query tests: write resources through the real repository (validation,
compartments and index rows as in production) and run searches from query strings."""

from typing import Any
from urllib.parse import parse_qsl

from django.db import connection

from fhirstore import jsontext
from fhirstore.context import SYSTEM, AccessScope
from fhirstore.prepared import _numbered
from fhirstore.repository import Repository
from fhirstore.search.engine import execute_search
from fhirstore.search.parse import parse_search
from fhirstore.search.result import SearchResult

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category"


def put(doc: dict[str, Any], *, logical_id: str | None = None) -> str:
    """Store `doc` (with id `logical_id`, or a server id) and return its id."""
    repository = Repository(scope=SYSTEM)
    if logical_id is None:
        return repository.create(doc=doc).stored.id
    doc = {**doc, "id": logical_id}
    return repository.update(
        resource_type=doc["resourceType"], logical_id=logical_id, doc=doc
    ).stored.id


def patient(logical_id: str, *, family: str = "Smith", given: str = "Ann", **extra: Any) -> str:
    return put(
        {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra},
        logical_id=logical_id,
    )


def observation(
    *,
    subject: str,
    code: str = "8867-4",
    when: str = "2024-03-01T10:00:00Z",
    value: float | None = None,
    unit: str = "/min",
    category: str = "vital-signs",
    logical_id: str | None = None,
    **extra: Any,
) -> str:
    doc: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": VITALS, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        **extra,
    }
    if value is not None:
        doc["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return put(jsontext.loads(jsontext.dumps(doc)), logical_id=logical_id)


def search(
    resource_type: str | None,
    query: str,
    *,
    scope: AccessScope = SYSTEM,
    compartment: tuple[str, str] | None = None,
    strict: bool = False,
) -> SearchResult:
    params = parse_qsl(query, keep_blank_values=True)
    request = parse_search(resource_type=resource_type, params=params, strict=strict)
    return execute_search(request=request, scope=scope, compartment=compartment)


def ids(result: SearchResult) -> list[str]:
    """Ids of the matches, in result order."""
    return [row.id for row in result.matches]


def included_ids(result: SearchResult) -> list[str]:
    return sorted(f"{row.resource_type}/{row.id}" for row in result.included)


def generic_plan(sql: str, values: list[Any]) -> str:
    """PostgreSQL's EXPLAIN of `sql` prepared and run with its generic plan (one made without
    the values, which a prepared statement may use), sequential scans discouraged as the test
    tables are tiny."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE explained AS {_numbered(sql)}")
        cursor.execute(f"EXPLAIN EXECUTE explained({', '.join(['%s'] * len(values))})", values)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute("DEALLOCATE explained")
    return plan
