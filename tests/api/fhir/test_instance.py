"""create, read, vread, update, patch and delete of single resources over the FHIR API."""

from typing import Any

from fhirstore.models import Resource, ResourceVersion


def test_create_answers_201_with_location_etag_and_stamped_meta(fhir, patient_doc):
    response = fhir.post("/Patient", patient_doc)

    assert response.status_code == 201
    body = response.json()
    assert response["ETag"] == 'W/"1"'
    assert response["Location"] == f"http://127.0.0.1:8000/fhir/Patient/{body['id']}/_history/1"
    assert response["Last-Modified"].endswith("GMT")
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert body["name"] == patient_doc["name"]


def test_create_keeps_decimal_digits_and_extensions_exactly(fhir):
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
        b'"valueQuantity":{"value":72.50,"unit":"kg"},'
        b'"extension":[{"url":"http://example.org/precision","valueDecimal":1.000}]}'
    )
    response = fhir.client.post("/fhir/Observation", raw, content_type="application/fhir+json")

    stored = fhir.get(f"/Observation/{response.json()['id']}").content
    assert b'"value":72.50' in stored
    assert b'"valueDecimal":1.000' in stored


def test_read_serves_the_stored_bytes(fhir, patient_doc):
    created = fhir.post("/Patient", patient_doc)

    read = fhir.get(f"/Patient/{created.json()['id']}")

    assert read.status_code == 200
    assert read.content == created.content
    assert read["ETag"] == 'W/"1"'
    assert read["Content-Type"].startswith("application/fhir+json")


def test_read_unknown_id_is_404_operation_outcome(fhir):
    response = fhir.get("/Patient/does-not-exist")

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


def test_update_creates_with_client_id_then_versions(fhir, patient_doc):
    first = fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-1"})
    second = fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-1", "gender": "female"})

    assert first.status_code == 201
    assert second.status_code == 200
    assert second["ETag"] == 'W/"2"'
    assert second.json()["gender"] == "female"
    assert ResourceVersion.objects.filter(logical_id="pat-1").count() == 2


def test_update_with_stale_if_match_is_412_and_writes_nothing(fhir, patient_doc):
    fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-1"})
    fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-1", "gender": "male"})

    response = fhir.put(
        "/Patient/pat-1", {**patient_doc, "id": "pat-1", "gender": "other"}, **{"If-Match": 'W/"1"'}
    )

    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert ResourceVersion.objects.filter(logical_id="pat-1").count() == 2
    assert fhir.get("/Patient/pat-1").json()["gender"] == "male"


def test_update_with_matching_if_match_succeeds(fhir, patient_doc):
    fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-1"})

    response = fhir.put(
        "/Patient/pat-1", {**patient_doc, "id": "pat-1", "gender": "other"}, **{"If-Match": 'W/"1"'}
    )

    assert response.status_code == 200
    assert response["ETag"] == 'W/"2"'


def test_update_id_in_url_and_body_must_agree(fhir, patient_doc):
    response = fhir.put("/Patient/pat-1", {**patient_doc, "id": "pat-2"})

    assert response.status_code == 400
    assert not Resource.objects.exists()


def test_vread_returns_each_version(fhir, patient_doc):
    fhir.put("/Patient/p", {**patient_doc, "id": "p"})
    fhir.put("/Patient/p", {**patient_doc, "id": "p", "gender": "female"})

    first = fhir.get("/Patient/p/_history/1").json()
    second = fhir.get("/Patient/p/_history/2").json()

    assert "gender" not in first
    assert second["gender"] == "female"
    assert fhir.get("/Patient/p/_history/3").status_code == 404


def test_patch_applies_json_patch_and_validates_result(fhir, patient_doc):
    created = fhir.create(patient_doc)
    path = f"/Patient/{created['id']}"

    good = fhir.patch(path, [{"op": "replace", "path": "/birthDate", "value": "1968-04-03"}])
    bad = fhir.patch(path, [{"op": "replace", "path": "/birthDate", "value": "not-a-date"}])

    assert good.status_code == 200
    assert good.json()["birthDate"] == "1968-04-03"
    assert good["ETag"] == 'W/"2"'
    assert bad.status_code == 400
    assert ResourceVersion.objects.filter(logical_id=created["id"]).count() == 2


def test_patch_needs_json_patch_media_type(fhir, patient_doc):
    created = fhir.create(patient_doc)

    response = fhir.client.patch(f"/fhir/Patient/{created['id']}", "[]", content_type="text/plain")

    assert response.status_code == 415


def test_delete_writes_tombstone_read_is_410_and_history_stays(fhir, patient_doc):
    created = fhir.create(patient_doc)
    path = f"/Patient/{created['id']}"

    deleted = fhir.delete(path)

    assert deleted.status_code == 200
    assert fhir.get(path).status_code == 410
    assert fhir.get(f"{path}/_history/1").status_code == 200
    assert fhir.get(f"{path}/_history/2").status_code == 410
    history = fhir.get(f"{path}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]


def test_delete_of_unknown_resource_is_a_success_that_writes_nothing(fhir):
    response = fhir.delete("/Patient/never-was")

    assert response.status_code == 200
    assert not ResourceVersion.objects.exists()


def test_update_after_delete_recreates(fhir, patient_doc):
    fhir.put("/Patient/p", {**patient_doc, "id": "p"})
    fhir.delete("/Patient/p")

    response = fhir.put("/Patient/p", {**patient_doc, "id": "p"})

    assert response.status_code == 201
    assert response["ETag"] == 'W/"3"'


def _prefer(fhir: Any, value: str, doc: dict[str, Any]) -> Any:
    return fhir.post("/Patient", doc, Prefer=value)


def test_prefer_return_minimal_has_no_body(fhir, patient_doc):
    response = _prefer(fhir, "return=minimal", patient_doc)

    assert response.status_code == 201
    assert response.content == b""
    assert "Location" in response


def test_prefer_return_operation_outcome(fhir, patient_doc):
    response = _prefer(fhir, "return=OperationOutcome", patient_doc)

    assert response.status_code == 201
    assert response.json()["resourceType"] == "OperationOutcome"


def test_summary_and_elements_on_read_subset_and_tag(fhir, patient_doc):
    created = fhir.create(
        {
            **patient_doc,
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ada</div>',
            },
        }
    )
    path = f"/Patient/{created['id']}"

    summary = fhir.get(f"{path}?_summary=true").json()
    elements = fhir.get(f"{path}?_elements=birthDate").json()

    assert "text" not in summary
    assert "name" in summary
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "SUBSETTED",
    } in elements["meta"]["tag"]
    assert fhir.get(f"{path}?_summary=sometimes").status_code == 400
