"""The indexer: rows replace old rows, deletes remove them, batches and query counts stay flat."""

import pytest

from fhirstore.models import Resource, SearchDate, SearchReference, SearchToken
from fhirstore.models.index import INDEX_TABLES
from fhirstore.search.indexer import index_resource, index_resources, rows_for, unindex_resource
from tests.fhirstore.search.indexing import example, new_row, rows, store, synthea_resources

pytestmark = pytest.mark.django_db


def count_rows(resource=None):
    return sum(
        (t.objects.filter(resource=resource) if resource else t.objects.all()).count()
        for t in INDEX_TABLES
    )


def test_create_is_one_insert_per_table_with_rows(django_assert_num_queries):
    doc = example("observation-example-bloodpressure")
    row = new_row(doc)
    tables = len(rows_for(doc))

    with django_assert_num_queries(tables):
        index_resource(resource=row, doc=doc)

    assert tables == 5  # token, date, reference, quantity, uri (meta.profile)
    assert count_rows(row) == sum(len(r) for r in rows_for(doc).values())


def test_update_replaces_the_rows_of_the_previous_version(django_assert_num_queries):
    doc = example("observation-example-bloodpressure")
    row = store(doc)
    doc["status"] = "amended"
    doc["subject"] = {"reference": "Patient/other"}
    row.version = 2

    with django_assert_num_queries(len(INDEX_TABLES) + len(rows_for(doc))):
        index_resource(resource=row, doc=doc)

    assert rows(SearchToken, "status", row) == [("", "amended", "")]
    assert rows(SearchReference, "patient", row) == [("Patient", "other", "")]


def test_unindex_removes_every_row_and_leaves_other_resources_alone():
    first = store(example("observation-example-bloodpressure"))
    second = store({**example("observation-example-f001-glucose"), "id": "other"})

    unindex_resource(resource=first)

    assert count_rows(first) == 0
    assert count_rows(second) > 0


def test_batch_index_is_one_delete_and_one_insert_per_table(
    django_assert_num_queries, database_vendor
):
    docs = synthea_resources()[:40]  # small enough for one INSERT per table
    resources = [new_row(doc) for doc in docs]
    tables = {table for doc in docs for table in rows_for(doc)}

    inserts = 0 if database_vendor == "postgresql" else len(tables)  # COPY is not in the query log

    with django_assert_num_queries(len(INDEX_TABLES) + inserts):
        index_resources(list(zip(resources, docs, strict=True)))

    assert count_rows() == sum(len(r) for doc in docs for r in rows_for(doc).values())


def test_batch_reindex_is_idempotent():
    docs = synthea_resources()[:50]
    pairs = [(new_row(doc), doc) for doc in docs]
    index_resources(pairs)
    before = count_rows()

    index_resources(pairs)

    assert count_rows() == before


def test_synthea_patient_resources_are_indexed_by_patient_and_date():
    docs = synthea_resources()
    patient_id = next(d["id"] for d in docs if d["resourceType"] == "Patient")
    index_resources([(new_row(doc), doc) for doc in docs])

    observations = sum(1 for d in docs if d["resourceType"] == "Observation")
    by_patient = SearchReference.objects.filter(
        resource_type="Observation", param="patient", target_type="Patient", target_id=patient_id
    )
    assert by_patient.count() == observations
    assert (
        SearchDate.objects.filter(resource_type="Observation", param="date").count() == observations
    )


def test_dates_round_trip_through_the_database_in_utc():
    doc = example("observation-example-f001-glucose")
    obs = store(doc)

    [(low, _)] = rows(SearchDate, "date", obs)

    assert low.isoformat() == "2013-04-02T08:30:10+00:00"


def test_repository_writes_keep_rows_on_the_current_version_only():
    from fhirstore.context import SYSTEM
    from fhirstore.repository import Repository

    repo = Repository(scope=SYSTEM)
    doc = example("observation-example-bloodpressure")
    doc.pop("id")
    created = repo.create(doc=doc).stored
    row = Resource.objects.get(resource_type="Observation", logical_id=created.id)
    assert rows(SearchToken, "status", row) == [("", "final", "")]
    assert rows(SearchToken, "_id", row) == [("", created.id, "")]
    assert len(rows(SearchDate, "_lastUpdated", row)) == 1

    repo.update(
        resource_type="Observation",
        logical_id=created.id,
        doc={**doc, "id": created.id, "status": "amended"},
    )
    assert rows(SearchToken, "status", row) == [("", "amended", "")]

    repo.delete(resource_type="Observation", logical_id=created.id)
    assert count_rows(row) == 0


def test_removing_a_resource_row_removes_its_index_rows():
    # The index tables have no foreign-key constraint in the database (`models.index._owner`);
    # Django's cascade is what removes them with their resource.
    gone = store(example("observation-example-bloodpressure"))
    kept = store({**example("observation-example-f001-glucose"), "id": "other"})
    assert count_rows(gone) > 0

    Resource.objects.filter(pk=gone.pk).delete()

    assert count_rows(gone) == 0
    assert count_rows(kept) > 0
