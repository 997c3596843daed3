"""Batch and transaction Bundles POSTed to the FHIR base URL (https://hl7.org/fhir/R4/http.html#transaction)."""

from typing import Any

import pytest

from fhirstore.models import Resource, ResourceVersion

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def entry(
    method: str, url: str, resource: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {"request": {"method": method, "url": url}, **extra}
    if resource is not None:
        item["resource"] = resource
    return item


def bundle(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pulse"},
        "subject": {"reference": subject},
    }


@pytest.mark.parametrize("path", ["", "/"])
def test_transaction_posted_to_the_base_answers_a_transaction_response(fhir, patient_doc, path):
    doc = bundle(
        entry("POST", "Observation", observation("urn:uuid:p")),
        entry("POST", "Patient", patient_doc, fullUrl="urn:uuid:p"),
    )
    response = fhir.post(path, doc)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    observation_url = body["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]
    patient_url = body["entry"][1]["response"]["location"].rsplit("/_history", 1)[0]
    assert fhir.get(f"/{observation_url}").json()["subject"]["reference"] == patient_url


def test_failed_transaction_answers_the_entrys_outcome_and_writes_nothing(fhir, patient_doc):
    bad = {
        **observation("urn:uuid:p"),
        "effectivePeriod": {"start": "2020-01-01", "stop": "2020-01-02"},
    }
    response = fhir.post(
        "",
        bundle(
            entry("POST", "Patient", patient_doc, fullUrl="urn:uuid:p"),
            entry("POST", "Observation", bad),
        ),
    )

    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"][0] == "Bundle.entry[1]"
    assert "Bundle.entry[1]" in outcome["issue"][0]["diagnostics"]
    assert Resource.objects.count() == 0
    assert ResourceVersion.objects.count() == 0


def test_transaction_version_conflict_answers_412(fhir, patient_doc):
    created = fhir.create(patient_doc)
    doc = bundle(entry("PUT", f"Patient/{created['id']}", created))
    doc["entry"][0]["request"]["ifMatch"] = 'W/"7"'

    response = fhir.post("", doc)

    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"][0] == "Bundle.entry[0]"


def test_batch_answers_200_with_each_entrys_status(fhir, patient_doc):
    doc = bundle(
        entry("POST", "Patient", patient_doc),
        entry("GET", "Patient/unknown"),
        entry("POST", "Patient", {"resourceType": "Patient", "active": "yes"}),
        kind="batch",
    )
    response = fhir.post("", doc)

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == [
        "201 Created",
        "404 Not Found",
        "400 Bad Request",
    ]
    assert body["entry"][2]["response"]["outcome"]["issue"][0]["severity"] == "error"
    assert Resource.objects.filter(resource_type="Patient").count() == 1


def test_prefer_representation_puts_resources_in_the_response(fhir, patient_doc):
    response = fhir.post(
        "", bundle(entry("POST", "Patient", patient_doc)), Prefer="return=representation"
    )

    resource = response.json()["entry"][0]["resource"]
    assert resource["name"] == patient_doc["name"]
    assert resource["meta"]["versionId"] == "1"


def test_get_entries_read_and_search_inside_a_batch(fhir, patient_doc):
    created = fhir.create(patient_doc)
    doc = bundle(
        entry("GET", f"Patient/{created['id']}"),
        entry("GET", f"Patient?identifier={NHS}|9000000009"),
        entry("GET", f"Patient/{created['id']}/_history"),
        kind="batch",
    )
    body = fhir.post("", doc).json()

    assert body["entry"][0]["resource"]["id"] == created["id"]
    assert body["entry"][1]["resource"]["type"] == "searchset"
    assert body["entry"][1]["resource"]["total"] == 1
    assert body["entry"][2]["resource"]["type"] == "history"


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": {"resourceType": "Patient"}}],
        },
        {"resourceType": "Patient"},
    ],
)
def test_a_bundle_that_is_not_a_batch_or_transaction_is_a_400(fhir, doc):
    response = fhir.post("", doc)

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_malformed_json_is_a_400(fhir):
    response = fhir.client.post(
        "/fhir", b'{"resourceType": "Bundle",', content_type="application/fhir+json"
    )

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


PATIENT = {"resourceType": "Patient"}
BINARY_PATCH = {
    "resourceType": "Binary",
    "contentType": "application/json-patch+json",
    "data": "!!",
}


@pytest.mark.parametrize(
    "entries",
    [
        [None],
        [{"request": {"method": "POST", "url": 123}, "resource": PATIENT}],
        [{"request": {"method": "POST", "url": "Patient"}, "resource": []}],
        [{"request": {"method": "POST", "url": "Foo"}, "resource": {"resourceType": "Foo"}}],
        [{"request": {"method": "PUT", "url": "Patient/bad id!"}, "resource": PATIENT}],
        [{"request": {"method": "PUT", "url": "Patient"}, "resource": PATIENT}],
        [{"request": {"method": "DELETE", "url": "Foo/1"}}],
        [{"request": {"method": "GET", "url": "Foo/1"}}],
        [{"request": {"method": "GET", "url": "Patient/1/_history/abc"}}],
        [{"request": {"method": "GET", "url": "Patient/$everything"}}],
        [{"request": {"method": "GET", "url": "Patient?birthdate=notadate"}}],
        [{"request": {"method": "PUT", "url": "Patient?nonsense=1"}, "resource": PATIENT}],
        [{"request": {"method": "DELETE", "url": "Patient?"}}],
        [
            {
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "nonsense=1"},
                "resource": PATIENT,
            }
        ],
        [{"request": {"method": "PATCH", "url": "Patient/1"}, "resource": BINARY_PATCH}],
        [
            {
                "request": {"method": "PATCH", "url": "Patient/1"},
                "resource": {"resourceType": "Parameters"},
            }
        ],
        [
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": {"resourceType": "Observation", "subject": {"reference": "Patient?"}},
            }
        ],
        [
            {"fullUrl": 5, "request": {"method": "POST", "url": "Patient"}, "resource": PATIENT},
            {"request": {"method": "GET", "url": "http://elsewhere.example/Patient/1"}},
        ],
    ],
)
@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_nothing_in_a_bundle_produces_a_server_error(fhir, entries, kind):
    response = fhir.post("", {"resourceType": "Bundle", "type": kind, "entry": entries})

    assert response.status_code < 500
    body = response.json()
    if response.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome"
    else:
        assert all(int(e["response"]["status"][:3]) < 500 for e in body["entry"])
