"""Control characters a client sends are its error: a 400 OperationOutcome naming where, nothing
written. PostgreSQL's text cannot hold NUL, so before these checks a NUL in a resource or a
search value failed the statement and answered 500 (on SQLite too for the same requests now)."""

import pytest

from fhirstore.models import Resource, ResourceVersion


def _outcome(response, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def _nothing_written():
    return not Resource.objects.exists() and not ResourceVersion.objects.exists()


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x08", "\x0c", "\x1b"])
def test_a_control_character_in_a_string_is_400_naming_the_element(fhir, character):
    body = {"resourceType": "Patient", "name": [{"family": f"Oka{character}for"}]}

    issue = _outcome(fhir.post("/Patient", body))

    assert issue["expression"] == ["Patient.name[0].family"]
    assert "control character" in issue["diagnostics"]
    assert _nothing_written()


def test_one_in_an_update_leaves_the_stored_version_as_it_was(fhir, patient_doc):
    created = fhir.create(patient_doc)
    versions = ResourceVersion.objects.count()
    changed = {**created, "name": [{"family": "x", "given": ["a\x00b"]}]}

    issue = _outcome(fhir.put(f"/Patient/{created['id']}", changed))

    assert issue["expression"] == ["Patient.name[0].given[0]"]
    assert fhir.get(f"/Patient/{created['id']}").json()["name"] == patient_doc["name"]
    assert ResourceVersion.objects.count() == versions


def test_tab_cr_lf_and_an_escaped_backslash_u0000_are_kept(fhir):
    note = "line one\r\nline two\tindented; a literal \\u0000 and \\b"
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "note"},
        "note": [{"text": note}],
    }

    created = fhir.create(body)

    assert fhir.get(f"/Observation/{created['id']}").json()["note"][0]["text"] == note


@pytest.mark.parametrize(
    "path",
    [
        "/Patient?name=Oka%00for",
        "/Observation?code=http://loinc.org%7C8867-4%00",
        "/Observation?_id=a%00",
        "/Observation?patient=p%001",
        "/Patient/p-1/Observation?code=%00",
        "/Patient?na%00me=x",
    ],
)
def test_a_nul_in_a_search_is_400(fhir, path):
    issue = _outcome(fhir.get(path))

    assert "NUL" in issue["diagnostics"]


def test_a_nul_in_conditional_criteria_is_400_and_writes_nothing(fhir, patient_doc):
    created = _outcome(fhir.post("/Patient", patient_doc, **{"If-None-Exist": "identifier=a%00"}))
    updated = _outcome(fhir.put("/Patient?identifier=a%00", patient_doc))
    deleted = _outcome(fhir.delete("/Patient?identifier=a%00"))

    assert all("NUL" in issue["diagnostics"] for issue in (created, updated, deleted))
    assert _nothing_written()


def test_in_a_batch_each_entry_answers_for_itself(fhir, patient_doc):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient?name=a%00"}},
            {
                "request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient", "gender": "male\x00"},
            },
            {"request": {"method": "POST", "url": "Patient"}, "resource": patient_doc},
        ],
    }

    response = fhir.post("", bundle)

    assert response.status_code == 200, response.content
    statuses = [entry["response"]["status"] for entry in response.json()["entry"]]
    assert [status.split()[0] for status in statuses] == ["400", "400", "201"]
    assert Resource.objects.filter(resource_type="Patient").count() == 1
