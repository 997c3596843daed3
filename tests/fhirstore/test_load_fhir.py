"""The `load_fhir` and `load_demo` operator commands, on tests/data/bundles/ and the demo data."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fhirstore import jsontext
from fhirstore.bundles.loading import discover
from fhirstore.models import CompartmentMember, Resource, ResourceVersion

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[1] / "data" / "bundles"


def load(*paths: Path | str, **options: object) -> str:
    out = io.StringIO()
    call_command(
        "load_fhir", *map(str, paths), "--no-progress", stdout=out, stderr=io.StringIO(), **options
    )
    return out.getvalue()


def load_failing(*paths: Path | str) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError, match="failed to load"):
        call_command(
            "load_fhir", *map(str, paths), "--no-progress", stdout=out, stderr=io.StringIO()
        )
    return out.getvalue()


def stored(resource_type: str, logical_id: str) -> dict:
    return jsontext.loads(
        Resource.objects.get(resource_type=resource_type, logical_id=logical_id).text
    )


def test_loads_a_transaction_a_collection_ndjson_and_a_single_resource():
    files = ("uscore_bundle_patient_907.json", "collection.json", "resources.ndjson", "group.json")
    summary = load(*(DATA / name for name in files))

    assert "Files: 4 (4 loaded, 0 failed)" in summary
    assert "Errors: 0" in summary
    assert Resource.objects.filter(resource_type="Patient").count() == 3
    assert stored("Group", "grp-1")["member"][0]["entity"]["reference"] == "Patient/nd-1"
    assert CompartmentMember.objects.filter(patient_id="nd-1").count() == 4  # with the Group
    provenance = Resource.objects.get(resource_type="Provenance")
    assert '"reference":"Patient/907"' in provenance.text


def test_collection_entries_keep_their_ids_and_decimal_digits():
    load(DATA / "collection.json")

    observation = Resource.objects.get(resource_type="Observation")
    assert '"value":72.50' in observation.text
    assert jsontext.loads(observation.text)["subject"]["reference"] == "Patient/coll-1"


def test_summary_counts_resources_by_type():
    summary = load(DATA / "resources.ndjson")

    assert "Resources written: 3" in summary
    assert "  Condition: 1" in summary
    assert "  Patient: 1" in summary


def test_a_bad_file_is_reported_by_name_and_entry_and_leaves_nothing_behind():
    summary = load_failing(DATA / "invalid_period_908.json", DATA / "group.json")

    assert "Files: 2 (1 loaded, 1 failed)" in summary
    assert "invalid_period_908.json: Bundle.entry[1] (POST Encounter)" in summary
    assert "Encounter.period.stop" in summary
    assert not Resource.objects.filter(
        resource_type__in=["Patient", "Encounter", "Provenance"]
    ).exists()
    assert not ResourceVersion.objects.filter(resource_type="Patient").exists()
    assert Resource.objects.filter(resource_type="Group").count() == 1


def test_a_bad_ndjson_line_is_reported_by_line_and_the_valid_lines_load():
    summary = load_failing(DATA / "bad_line.ndjson")

    assert "bad_line.ndjson: line 2:" in summary
    assert list(Resource.objects.values_list("logical_id", flat=True)) == ["nd-2"]


def test_with_atomic_a_bad_ndjson_line_leaves_nothing_stored():
    out = io.StringIO()
    with pytest.raises(CommandError, match="failed to load"):
        call_command(
            "load_fhir", str(DATA / "bad_line.ndjson"), "--atomic", "--no-progress", stdout=out
        )

    assert "bad_line.ndjson: line 2:" in out.getvalue()
    assert Resource.objects.count() == 0


def test_an_unreadable_file_is_reported_and_the_next_file_still_loads(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", ')
    summary = load_failing(broken, DATA / "group.json")

    assert f"{broken}: Body is not valid JSON" in summary
    assert Resource.objects.filter(resource_type="Group").count() == 1


def test_a_missing_path_is_an_error():
    with pytest.raises(CommandError, match="No such file"):
        load(DATA / "nope.json")


def test_keep_ids_makes_reloading_write_versions_not_copies():
    load(DATA / "uscore_bundle_patient_907.json", keep_ids=True)
    rows = Resource.objects.count()

    load(DATA / "uscore_bundle_patient_907.json", keep_ids=True)

    assert Resource.objects.count() == rows
    assert set(Resource.objects.values_list("version", flat=True)) == {2}


def test_folders_load_hospital_and_practitioner_bundles_first(tmp_path):
    for name in (
        "Alice_1.json",
        "practitionerInformation1.json",
        "Bob_2.ndjson",
        "hospitalInformation1.json",
        "notes.txt",
    ):
        (tmp_path / name).write_text("{}")

    names = [path.name for path in discover([tmp_path])]

    assert names == [
        "hospitalInformation1.json",
        "practitionerInformation1.json",
        "Alice_1.json",
        "Bob_2.ndjson",
    ]


def test_load_demo_loads_three_patients_once():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    versions = ResourceVersion.objects.count()

    call_command("load_demo", stdout=out)

    assert Resource.objects.filter(resource_type="Patient").count() == 3
    assert ResourceVersion.objects.count() == versions
    assert "Demo data already loaded (3 patients)" in out.getvalue()
    assert "Patient/c4cbfddf-6f87-4acd-a34b-670178c3e535  Cameron Greenfelder" in out.getvalue()
