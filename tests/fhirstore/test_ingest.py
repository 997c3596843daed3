"""The bulk ingest path shared by load_fhir and $import: batches, per-line errors, ids kept
(PUT semantics), all or nothing, resuming after a line, validation in other processes, and the
cost of a batch in queries."""

import io
import json
import sys

import pytest

from fhirstore.bundles.ingest import IngestFailed, ingest_ndjson
from fhirstore.context import SYSTEM, AccessScope
from fhirstore.models import Resource
from fhirstore.repository import Repository

pytestmark = pytest.mark.django_db
PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]}
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "pulse"},
    "subject": {"reference": "Patient/p1"},
}
LINES = [
    PATIENT,
    "not json",
    OBSERVATION,
    {"resourceType": "Nope"},
    "",
    {**OBSERVATION, "id": "o2"},
]


def stream(lines: list) -> io.BytesIO:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return io.BytesIO(text.encode())


def ingest(lines: list, **options) -> object:
    return ingest_ndjson(repo=Repository(scope=SYSTEM), stream=stream(lines), **options)


def test_valid_lines_load_and_bad_lines_are_reported_by_line():
    progress = ingest(LINES, size=2)

    assert dict(progress.written) == {"Patient": 1, "Observation": 2}
    assert [(e.line, e.code) for e in progress.errors] == [(2, "structure"), (4, "not-found")]
    assert progress.line == 6
    assert Resource.objects.filter(resource_type="Observation", logical_id="o2").exists()


def test_validating_in_another_process_gives_the_same_result():
    inline = ingest(LINES, size=2)
    Resource.objects.all().delete()

    pooled = ingest(LINES, size=2, processes=1)

    assert pooled.written == inline.written
    assert pooled.errors == inline.errors
    assert Resource.objects.count() == 3


def test_a_stored_id_is_updated_not_copied():
    ingest([PATIENT])

    progress = ingest([{**PATIENT, "gender": "female"}, {**PATIENT, "gender": "male"}])

    assert progress.total == 2
    row = Resource.objects.get(resource_type="Patient", logical_id="p1")
    assert (row.version, '"gender":"male"' in row.text) == (3, True)


def test_an_invalid_update_is_a_line_error_and_the_batch_still_loads():
    ingest([PATIENT])

    progress = ingest([{**PATIENT, "gender": 7}, OBSERVATION])

    assert [e.line for e in progress.errors] == [1]
    assert progress.written["Observation"] == 1


def test_atomic_stores_nothing_when_a_line_is_bad():
    with pytest.raises(IngestFailed, match="line 2"):
        ingest([PATIENT, "not json", OBSERVATION], atomic=True, size=1)

    assert not Resource.objects.exists()


def test_skip_resumes_after_the_lines_already_loaded():
    progress = ingest([PATIENT, OBSERVATION, {**OBSERVATION, "id": "o2"}], skip=2)

    assert dict(progress.written) == {"Observation": 1}
    assert list(Resource.objects.values_list("logical_id", flat=True)) == ["o2"]


def test_a_patient_scope_may_only_load_its_own_compartment():
    patient_scope = AccessScope(patient_ids=frozenset({"p1"}), actor="user:1")

    progress = ingest_ndjson(
        repo=Repository(scope=patient_scope),
        stream=stream([{**OBSERVATION, "subject": {"reference": "Patient/other"}}, OBSERVATION]),
    )

    assert [(e.line, e.code) for e in progress.errors] == [(1, "forbidden")]
    assert progress.written["Observation"] == 1


def test_a_batch_of_new_resources_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    lines = [{**OBSERVATION, "id": f"o{n}"} for n in range(50)]

    with django_assert_max_num_queries(40):  # id lookup, bulk inserts, index tables: not per line
        progress = ingest(lines, size=50)

    assert progress.total == 50


def test_validating_in_a_thread_leaves_the_switch_interval_as_it_was():
    before = sys.getswitchinterval()

    progress = ingest(LINES, size=2)

    assert progress.total == 3
    assert sys.getswitchinterval() == before
