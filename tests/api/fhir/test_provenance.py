"""Every write carries a Provenance in the same transaction; X-Provenance is honoured."""

import json

from fhirstore import fhirmodels
from fhirstore.models import Resource


def _provenances(fhir):
    return [e["resource"] for e in fhir.get("/Provenance").json().get("entry", [])]


def test_create_records_provenance_naming_the_version_and_client(fhir, patient_doc):
    created = fhir.create(patient_doc)

    [provenance] = _provenances(fhir)

    assert provenance["target"] == [{"reference": f"Patient/{created['id']}/_history/1"}]
    assert provenance["activity"]["coding"][0]["code"] == "CREATE"
    assert provenance["agent"][0]["who"]["display"].startswith("client:")


def test_x_provenance_header_is_kept_and_target_filled_in(fhir, patient_doc):
    header = {
        "resourceType": "Provenance",
        "target": [{"reference": "Patient/ignored"}],
        "recorded": "2026-11-26T09:00:00Z",
        "agent": [{"who": {"display": "Riverside Practice import"}}],
        "reason": [{"text": "GP record transfer"}],
    }

    created = fhir.post("/Patient", patient_doc, **{"X-Provenance": json.dumps(header)}).json()

    [provenance] = _provenances(fhir)
    assert provenance["target"] == [{"reference": f"Patient/{created['id']}/_history/1"}]
    assert provenance["agent"] == header["agent"]
    assert provenance["reason"] == header["reason"]


def test_bad_x_provenance_is_400_and_writes_nothing(fhir, patient_doc):
    response = fhir.post("/Patient", patient_doc, **{"X-Provenance": '{"resourceType": "Patient"}'})

    assert response.status_code == 400
    assert not Resource.objects.exists()


def test_x_provenance_with_an_invalid_element_is_400_and_writes_nothing(fhir, patient_doc):
    header = {"resourceType": "Provenance", "agent": [{"who": {"display": "x"}, "role": "boss"}]}

    response = fhir.post("/Patient", patient_doc, **{"X-Provenance": json.dumps(header)})

    assert response.status_code == 400
    assert "role" in response.json()["issue"][0]["diagnostics"]
    assert not Resource.objects.exists()


def test_a_transaction_provenance_names_every_entry_and_is_valid_in_full(fhir, patient_doc):
    # Only the first target is put through validation (`provenance._validate_with_one_target`).
    entries = [
        {
            "resource": {**patient_doc, "gender": gender},
            "request": {"method": "POST", "url": "Patient"},
        }
        for gender in ("female", "male", "other", "unknown")
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    response = fhir.post("", bundle)

    assert response.status_code == 200, response.content
    [provenance] = _provenances(fhir)
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    assert [t["reference"] for t in provenance["target"]] == [
        location.split("/fhir/")[-1] for location in locations
    ]
    fhirmodels.validate_resource(provenance)


def test_failed_write_leaves_no_provenance(fhir):
    fhir.post("/Patient", {"resourceType": "Patient", "birthDate": "not-a-date"})

    assert not Resource.objects.filter(resource_type="Provenance").exists()
