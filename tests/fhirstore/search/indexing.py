"""Helpers for the index tests: load example resources, store them as current rows, read rows."""

from pathlib import Path
from typing import Any

from django.utils import timezone

from fhirstore import jsontext
from fhirstore.models import Resource
from fhirstore.models.index import IndexRow
from fhirstore.search.indexer import COLUMNS, index_resource

DATA = Path(__file__).resolve().parents[2] / "data"


def example(name: str) -> dict[str, Any]:
    """A spec example from tests/data/r4-examples, parsed losslessly (decimals as Decimal)."""
    return jsontext.loads((DATA / "r4-examples" / f"{name}.json").read_bytes())


def synthea_resources() -> list[dict[str, Any]]:
    """The resources of the Synthea sample patient, references rewritten to `Type/id`."""
    path = next((DATA / "synthea").glob("*.json"))
    bundle = jsontext.loads(path.read_bytes())
    ids = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }
    text = jsontext.dumps([e["resource"] for e in bundle["entry"]]).decode()
    for urn, local in ids.items():
        text = text.replace(f'"{urn}"', f'"{local}"')
    return jsontext.loads(text)


def new_row(doc: dict[str, Any], *, version: int = 1) -> Resource:
    """A current Resource row for `doc`, without index rows."""
    return Resource.objects.create(
        resource_type=doc["resourceType"],
        logical_id=doc.get("id", "x"),
        version=version,
        last_updated=timezone.now(),
        text=jsontext.dumps(doc).decode(),
    )


def store(doc: dict[str, Any]) -> Resource:
    """Store `doc` as a new current resource and index it."""
    row = new_row(doc)
    index_resource(resource=row, doc=doc)
    return row


def rows(table: type[IndexRow], param: str, resource: Resource | None = None) -> list[tuple]:
    """The type columns of `table`'s rows for `param` (of `resource` if given), sorted; not
    the principal date token rows carry (`test_index_latest.py`)."""
    found = table._default_manager.filter(param=param)
    if resource is not None:
        found = found.filter(resource_id=resource.pk)  # type: ignore[misc]
    return sorted(found.values_list(*(c for c in COLUMNS[table] if c != "sort_high")))
