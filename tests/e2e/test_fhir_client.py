"""The real server (granian, DEBUG off) driven over HTTP by fhirpy, a FHIR client from PyPI.

What a client sees: create, read, vread, update, patch, delete, history, search, conditional writes
and a transaction, plus the error answers (404, 410, 412, invalid content), always OperationOutcome.
Where fhirpy hides the status line or headers, the same call is made with plain `requests`.
"""

import uuid
from typing import Any

import pytest
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.e2e.live import REPO, Server

pytestmark = pytest.mark.e2e

NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = "application/fhir+json"
needs_search = pytest.mark.skipif(
    not (REPO / "api" / "fhir" / "search_views.py").exists(), reason="search is not routed yet"
)


def _unique() -> str:
    return uuid.uuid4().hex[:12]


def _patient(client: SyncFHIRClient, family: str, **extra: Any) -> Any:
    patient = client.resource(
        "Patient",
        name=[{"family": family, "given": ["Ada"]}],
        identifier=[{"system": NHS, "value": family}],
        **extra,
    )
    patient.save()
    return patient


def _outcome(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] in ("error", "fatal")
    return body


# --- capability and authorisation --------------------------------------------------------------


def test_metadata_is_an_r4_capability_statement(fhir_client):
    capability = fhir_client.execute("metadata", method="get")

    assert capability["resourceType"] == "CapabilityStatement"
    assert capability["fhirVersion"] == "4.0.1"


def test_server_is_not_open_without_a_token(fhir_server: Server):
    response = requests.get(f"{fhir_server.base_url}/Patient/anything", timeout=10)

    _outcome(response, 401)


# --- create, read, update, vread ---------------------------------------------------------------


def test_create_then_read_returns_the_stored_resource(fhir_client):
    family = _unique()

    patient = _patient(fhir_client, family)
    read = fhir_client.reference("Patient", patient.id).to_resource()

    assert patient.id
    assert patient["meta"]["versionId"] == "1"
    assert read.serialize() == patient.serialize()
    assert read["name"][0]["family"] == family


def test_update_makes_a_new_version_and_vread_keeps_the_old_one(fhir_client):
    patient = _patient(fhir_client, _unique())

    patient["gender"] = "female"
    patient.save()
    first = fhir_client.execute(f"Patient/{patient.id}/_history/1", method="get")

    assert patient["meta"]["versionId"] == "2"
    assert patient["gender"] == "female"
    assert "gender" not in first
    assert first["meta"]["versionId"] == "1"


def test_update_as_create_with_a_client_id(fhir_client):
    logical_id = f"e2e-{_unique()}"

    patient = fhir_client.resource("Patient", id=logical_id, name=[{"family": "ClientId"}])
    patient.save()

    assert fhir_client.reference("Patient", logical_id).to_resource()["meta"]["versionId"] == "1"


def test_create_keeps_the_exact_json_written(fhir_server: Server, http: requests.Session):
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
        b'"valueQuantity":{"value":72.50,"unit":"kg"},'
        b'"extension":[{"url":"http://example.org/precision","valueDecimal":1.000}]}'
    )

    created = http.post(
        f"{fhir_server.base_url}/Observation", data=raw, headers={"Content-Type": FHIR_JSON}
    )
    read = http.get(created.headers["Location"].split("/_history/")[0], timeout=10)

    assert created.status_code == 201
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"].startswith(f"{fhir_server.base_url}/Observation/")
    assert b'"value":72.50' in read.content
    assert b'"valueDecimal":1.000' in read.content
    assert read.content == created.content


def test_json_patch_is_applied_and_validated(
    fhir_server: Server, http: requests.Session, fhir_client
):
    patient = _patient(fhir_client, _unique())
    url = f"{fhir_server.base_url}/Patient/{patient.id}"
    patch = [{"op": "add", "path": "/gender", "value": "other"}]

    patched = http.patch(url, json=patch, headers={"Content-Type": "application/json-patch+json"})
    invalid = http.patch(
        url,
        json=[{"op": "add", "path": "/gender", "value": 7}],
        headers={"Content-Type": "application/json-patch+json"},
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["gender"] == "other"
    assert patched.headers["ETag"] == 'W/"2"'
    assert invalid.status_code in (400, 422)
    assert fhir_client.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "2"


def test_fhirpy_merge_patch_is_refused_with_an_operation_outcome(fhir_client):
    # fhirpy's patch() sends a partial resource (merge patch); R4 defines JSON Patch only.
    patient = _patient(fhir_client, _unique())

    with pytest.raises(OperationOutcome):
        fhir_client.patch("Patient", patient.id, gender="female")

    assert fhir_client.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "1"


# --- delete and history ------------------------------------------------------------------------


def test_delete_then_read_is_410_and_history_keeps_every_version(
    fhir_server: Server, http, fhir_client
):
    patient = _patient(fhir_client, _unique())
    patient["gender"] = "male"
    patient.save()

    patient.delete()
    read = http.get(f"{fhir_server.base_url}/Patient/{patient.id}", timeout=10)
    history = fhir_client.execute(f"Patient/{patient.id}/_history", method="get")

    _outcome(read, 410)
    with pytest.raises(ResourceNotFound):
        fhir_client.reference("Patient", patient.id).to_resource()
    assert history["type"] == "history"
    assert history["total"] == 3
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    assert history["entry"][1]["resource"]["gender"] == "male"


def test_type_history_lists_new_versions_since_a_moment(fhir_client):
    first = _patient(fhir_client, _unique())
    since = first["meta"]["lastUpdated"]
    second = _patient(fhir_client, _unique())

    history = fhir_client.execute("Patient/_history", method="get", params={"_since": since})

    ids = {entry["resource"]["id"] for entry in history["entry"]}
    assert second.id in ids


# --- search and conditional writes -------------------------------------------------------------


@needs_search
def test_search_by_identifier_and_by_name_with_paging(fhir_client):
    family = _unique()
    created = {_patient(fhir_client, family).id for _ in range(3)}
    other = _patient(fhir_client, _unique())

    by_name = fhir_client.resources("Patient").search(family=family).limit(2).fetch_all()
    by_identifier = (
        fhir_client.resources("Patient")
        .search(identifier=f"{NHS}|{other['identifier'][0]['value']}")
        .get()
    )

    assert {p.id for p in by_name} == created
    assert by_identifier.id == other.id


@needs_search
def test_conditional_update_creates_then_updates_and_conditional_delete_removes(fhir_client):
    value = _unique()
    matching = fhir_client.resources("Patient").search(identifier=f"{NHS}|{value}")
    body = fhir_client.resource("Patient", identifier=[{"system": NHS, "value": value}])

    created, was_created = matching.update(body)
    updated, second_created = matching.update(
        fhir_client.resource("Patient", identifier=body["identifier"], gender="female")
    )
    matching.delete()

    assert was_created is True
    assert second_created is False
    assert updated.id == created.id
    assert updated["meta"]["versionId"] == "2"
    assert matching.fetch() == []


def test_conditional_create_with_if_none_exist_returns_the_match(
    fhir_server: Server, http, fhir_client
):
    value = _unique()
    body = {"resourceType": "Patient", "identifier": [{"system": NHS, "value": value}]}
    headers = {"Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={NHS}|{value}"}

    first = http.post(f"{fhir_server.base_url}/Patient", json=body, headers=headers)
    second = http.post(f"{fhir_server.base_url}/Patient", json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]


# --- transaction -------------------------------------------------------------------------------


def _transaction(family: str, *, effective: str = "2024-05-01T09:30:00Z") -> dict[str, Any]:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pulse"},
        "effectiveDateTime": effective,
        "subject": {"reference": patient_url},
        "valueQuantity": {"value": 62, "unit": "/min"},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": family}],
                    "identifier": [{"system": NHS, "value": family}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def test_transaction_creates_every_entry_and_resolves_urn_references(fhir_client):
    response = fhir_client.execute("", method="post", data=_transaction(_unique()))

    assert response["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in response["entry"]]
    assert all(status.startswith("201") for status in statuses), statuses
    patient_location, observation_location = (e["response"]["location"] for e in response["entry"])
    patient_id = patient_location.split("Patient/")[1].split("/")[0]
    observation = fhir_client.execute(observation_location.split("/_history/")[0], method="get")
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"


def test_failing_transaction_writes_nothing(fhir_server: Server, http: requests.Session):
    family = _unique()
    before = http.get(f"{fhir_server.base_url}/Patient/_history", timeout=10).json()["total"]

    response = http.post(
        fhir_server.base_url,
        json=_transaction(family, effective="2024-13-45"),
        headers={"Content-Type": FHIR_JSON},
    )

    _outcome(response, response.status_code)
    assert response.status_code in (400, 422)
    after = http.get(f"{fhir_server.base_url}/Patient/_history", timeout=10).json()["total"]
    assert after == before


# --- errors ------------------------------------------------------------------------------------


def test_read_unknown_id_is_404_operation_outcome(fhir_server: Server, http, fhir_client):
    with pytest.raises(ResourceNotFound):
        fhir_client.reference("Patient", "no-such-patient").to_resource()

    body = _outcome(http.get(f"{fhir_server.base_url}/Patient/no-such-patient", timeout=10), 404)
    assert body["issue"][0]["code"] == "not-found"


def test_update_with_a_stale_if_match_is_412_and_changes_nothing(
    fhir_server: Server, http, fhir_client
):
    patient = _patient(fhir_client, _unique())
    patient["gender"] = "female"
    patient.save()
    stale = {**patient.serialize(), "gender": "male"}

    response = http.put(
        f"{fhir_server.base_url}/Patient/{patient.id}",
        json=stale,
        headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'},
    )

    _outcome(response, 412)
    current = fhir_client.reference("Patient", patient.id).to_resource()
    assert current["meta"]["versionId"] == "2"
    assert current["gender"] == "female"


def test_invalid_resource_is_refused_by_the_client_call(fhir_client):
    with pytest.raises(OperationOutcome):
        fhir_client.resource("Patient", birthDate="not-a-date").save()


def test_code_outside_a_required_value_set_is_refused(fhir_client):
    with pytest.raises(OperationOutcome):
        fhir_client.resource("Patient", gender="banana").save()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/Patient", b"{not json", {"Content-Type": FHIR_JSON}, 400),
        ("POST", "/Patient", b"<Patient/>", {"Content-Type": "application/fhir+xml"}, 415),
        ("GET", "/Patient/x", b"", {"Accept": "application/fhir+xml"}, 406),
        ("GET", "/NotAType/x", b"", {}, 404),
        ("POST", "/Patient/x", b"{}", {"Content-Type": FHIR_JSON}, 405),
        (
            "PUT",
            "/Patient/a",
            b'{"resourceType":"Patient","id":"b"}',
            {"Content-Type": FHIR_JSON},
            400,
        ),
    ],
)
def test_bad_requests_get_an_operation_outcome_not_a_500(
    fhir_server: Server, http, method, path, body, headers, status
):
    response = http.request(
        method, f"{fhir_server.base_url}{path}", data=body, headers=headers, timeout=10
    )

    _outcome(response, status)
