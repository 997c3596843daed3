"""Conditional create (If-None-Exist), update and delete by search criteria."""

from fhirstore.models import Resource, ResourceVersion

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def test_conditional_create_returns_existing_match_without_writing(fhir, patient_doc):
    first = fhir.post("/Patient", patient_doc, **{"If-None-Exist": f"identifier={NHS}|9000000009"})

    second = fhir.post("/Patient", patient_doc, **{"If-None-Exist": f"identifier={NHS}|9000000009"})

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert ResourceVersion.objects.exclude(resource_type="Provenance").count() == 1


def test_conditional_create_with_several_matches_is_412(fhir, patient_doc):
    fhir.create(patient_doc)
    fhir.create(patient_doc)

    response = fhir.post(
        "/Patient", patient_doc, **{"If-None-Exist": f"identifier={NHS}|9000000009"}
    )

    assert response.status_code == 412
    assert Resource.objects.exclude(resource_type="Provenance").count() == 2


def test_conditional_create_with_unknown_parameter_is_400(fhir, patient_doc):
    response = fhir.post("/Patient", patient_doc, **{"If-None-Exist": "shoe-size=9"})

    assert response.status_code == 400
    assert not Resource.objects.exists()


def test_conditional_update_creates_then_updates_the_match(fhir, patient_doc):
    query = f"/Patient?identifier={NHS}|9000000009"

    created = fhir.put(query, patient_doc)
    updated = fhir.put(query, {**patient_doc, "gender": "female"})

    assert created.status_code == 201
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"


def test_conditional_update_with_several_matches_is_412_and_writes_nothing(fhir, patient_doc):
    fhir.create(patient_doc)
    fhir.create(patient_doc)

    response = fhir.put(f"/Patient?identifier={NHS}|9000000009", {**patient_doc, "gender": "male"})

    assert response.status_code == 412
    assert ResourceVersion.objects.exclude(resource_type="Provenance").count() == 2


def test_conditional_delete_removes_the_single_match(fhir, patient_doc):
    created = fhir.create(patient_doc)

    response = fhir.delete(f"/Patient?identifier={NHS}|9000000009")

    assert response.status_code == 200
    assert fhir.get(f"/Patient/{created['id']}").status_code == 410


def test_conditional_delete_with_several_matches_is_412(fhir, patient_doc):
    fhir.create(patient_doc)
    fhir.create(patient_doc)

    response = fhir.delete(f"/Patient?identifier={NHS}|9000000009")

    assert response.status_code == 412
    assert ResourceVersion.objects.filter(deleted=True).count() == 0


def test_conditional_delete_without_criteria_is_400(fhir, patient_doc):
    fhir.create(patient_doc)

    response = fhir.delete("/Patient")

    assert response.status_code == 400
    assert ResourceVersion.objects.filter(deleted=True).count() == 0
