"""The repository under concurrent writers, each thread on its own database connection.

PostgreSQL only: these exercise the row lock behind `If-Match` and the advisory lock behind
conditional creates, which SQLite's single writer makes moot (tests/e2e/test_concurrency.py runs
the same races over HTTP on both databases). https://hl7.org/fhir/R4/http.html#concurrency
"""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from django.db import connection

from fhirstore.context import SYSTEM
from fhirstore.errors import FhirError, PreconditionFailed
from fhirstore.models import Resource, ResourceVersion
from fhirstore.repository import Repository
from fhirstore.stored import WriteResult

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 16
T = TypeVar("T")


def _race(action: Callable[[int], T]) -> list[T | FhirError]:
    """Run `action(i)` in WRITERS threads released together; a FhirError is returned, not raised."""
    barrier = threading.Barrier(WRITERS)

    def run(index: int) -> T | FhirError:
        try:
            barrier.wait(timeout=30)
            return action(index)
        except FhirError as error:
            return error
        finally:
            connection.close()  # each thread has its own connection; the test database must drop

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(run, range(WRITERS)))


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


def test_if_match_race_has_one_winner_per_version_and_loses_nothing():
    repo = Repository(scope=SYSTEM)
    created = repo.create(doc=_patient())
    logical_id = created.stored.id

    def write(writer: int) -> WriteResult:
        body = _patient(id=logical_id, name=[{"family": f"writer-{writer}"}])
        return repo.update(
            resource_type="Patient", logical_id=logical_id, doc=body, if_match='W/"1"'
        )

    results = _race(write)

    wins = [r for r in results if isinstance(r, WriteResult)]
    assert len(wins) == 1
    assert all(isinstance(r, PreconditionFailed) for r in results if r not in wins)
    assert wins[0].stored.version == 2
    versions = ResourceVersion.objects.filter(logical_id=logical_id).order_by("version")
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].text.encode() == wins[0].stored.text


def test_updates_without_if_match_are_serialised_into_distinct_versions():
    repo = Repository(scope=SYSTEM)
    logical_id = repo.create(doc=_patient()).stored.id

    def write(writer: int) -> WriteResult:
        body = _patient(id=logical_id, name=[{"family": f"writer-{writer}"}])
        return repo.update(resource_type="Patient", logical_id=logical_id, doc=body)

    results = _race(write)

    assert all(isinstance(r, WriteResult) for r in results), results
    stored = {r.stored.version: r.stored.text for r in results if isinstance(r, WriteResult)}
    assert sorted(stored) == list(range(2, WRITERS + 2))
    rows = ResourceVersion.objects.filter(logical_id=logical_id)
    kept = dict(rows.values_list("version", "text"))
    assert all(kept[version].encode() == text for version, text in stored.items())
    assert Resource.objects.get(logical_id=logical_id).version == WRITERS + 1


def test_conditional_create_race_makes_exactly_one_resource():
    repo = Repository(scope=SYSTEM)
    value = uuid.uuid4().hex
    doc = _patient(identifier=[{"system": "urn:test", "value": value}])

    results = _race(lambda _: repo.create(doc=doc, if_none_exist=f"identifier=urn:test|{value}"))

    assert all(isinstance(r, WriteResult) for r in results), results
    statuses = sorted(r.status for r in results if isinstance(r, WriteResult))
    assert statuses == [200] * (WRITERS - 1) + [201]
    assert len({r.stored.id for r in results if isinstance(r, WriteResult)}) == 1
    assert Resource.objects.filter(resource_type="Patient", text__contains=value).count() == 1
