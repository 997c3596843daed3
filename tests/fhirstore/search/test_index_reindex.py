"""`manage.py reindex`: rebuilds rows for current resources, all or one type, in batches."""

import io

import pytest
from django.core.management import CommandError, call_command

from fhirstore.models import SearchString, SearchToken
from fhirstore.models.index import INDEX_TABLES
from tests.fhirstore.search.indexing import example, new_row

pytestmark = pytest.mark.django_db


def total_rows():
    return sum(t.objects.count() for t in INDEX_TABLES)


def test_reindex_builds_rows_for_every_current_resource():
    patient = new_row(example("patient-example"))
    obs = new_row(example("observation-example-bloodpressure"))
    out = io.StringIO()

    call_command("reindex", "--batch", "1", stdout=out, verbosity=0)

    assert "Re-indexed 2 resources" in out.getvalue()
    assert SearchString.objects.filter(resource=patient, param="family").exists()
    assert SearchToken.objects.filter(resource=obs, param="code").exists()


def test_reindex_one_type_leaves_others_untouched():
    new_row(example("patient-example"))
    obs = new_row(example("observation-example-bloodpressure"))

    call_command("reindex", "--type", "Observation", stdout=io.StringIO(), verbosity=0)

    assert {t.objects.first().resource_id for t in INDEX_TABLES if t.objects.exists()} == {obs.pk}


def test_reindex_skips_deleted_resources_and_is_repeatable():
    new_row(example("patient-example"))
    gone = new_row(example("observation-example-bloodpressure"))
    gone.deleted, gone.text = True, ""
    gone.save()

    call_command("reindex", stdout=io.StringIO(), verbosity=0)
    first = total_rows()
    call_command("reindex", stdout=io.StringIO(), verbosity=0)

    assert total_rows() == first > 0
    assert not SearchToken.objects.filter(resource=gone).exists()


def test_reindex_rejects_an_unknown_type():
    with pytest.raises(CommandError, match="Unknown resource type"):
        call_command("reindex", "--type", "Nope", stdout=io.StringIO())
