"""The leak matrix: Alice's patient token against Bob's record, through every interaction.

Two patients with one resource of every compartment type that matters (tests/access/records.py),
sharing a practitioner, an organisation and a medication. Alice's token must never return Bob's
ids or data (every resource of Bob's carries the marker BOBMARK), reads of Bob's resources must be
indistinguishable from reads of ids that do not exist (status and OperationOutcome, ids
normalised), searches and totals count only what Alice may see, and writes to Bob's record are
refused and write nothing. The record is built once per module; each test runs in a savepoint.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from fhirstore.models import Resource
from tests.access.personas import LAB, Fhir, body_of, entries, login, put, token
from tests.access.records import SHARED, record, shared_directory

BOB_MARKS = ("BOBMARK", "bob-", "Bobson", "Patient/bob")


@dataclass(frozen=True)
class World:
    alice: list[str]
    bob: list[str]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    with django_db_blocker.unblock(), transaction.atomic():
        shared_directory()
        alice, bob = record("alice"), record("bob")
        user = login("alice", kind="patient", fhir_id="alice")
        tokens = {
            "all": token(user, "launch/patient patient/*.cruds", patient_id="alice"),
            "v1": token(user, "patient/*.read patient/*.write", patient_id="alice"),
            "observations": token(user, "patient/Observation.rs", patient_id="alice"),
            "labs": token(user, f"patient/Observation.rs?category={LAB}", patient_id="alice"),
        }
        yield World(alice=alice, bob=bob, tokens=tokens)
        transaction.set_rollback(True)


@pytest.fixture
def alice(world: World, db: None) -> Fhir:
    return Fhir(world.tokens["all"])


def _no_bob(body: bytes) -> None:
    text = body.decode()
    leaked = [mark for mark in BOB_MARKS if mark in text]
    assert not leaked, f"leaked {leaked}: {text[:400]}"


def _entries_text(response: Any) -> bytes:
    body = body_of(response)
    return json.dumps([e.get("resource") for e in body.get("entry", [])]).encode()


def _normalised(response: Any, logical_id: str) -> tuple[int, str]:
    return response.status_code, response.content.decode().replace(logical_id, "ID")


RECORD_TYPES = [
    *("Patient", "Observation", "Condition", "Encounter", "MedicationRequest"),
    *("AllergyIntolerance", "Procedure", "Immunization", "DiagnosticReport", "CarePlan"),
    *("Goal", "CareTeam", "DocumentReference", "Consent", "Communication", "RelatedPerson"),
    "Binary",
]
BOB_RESOURCES = [f"{t}/bob-{t.lower()}" if t != "Patient" else "Patient/bob" for t in RECORD_TYPES]
READS = {
    "read": "/{ref}",
    "vread": "/{ref}/_history/1",
    "history": "/{ref}/_history",
}


@pytest.mark.parametrize("interaction", sorted(READS))
@pytest.mark.parametrize("ref", BOB_RESOURCES)
def test_reading_bobs_resource_is_exactly_like_reading_a_missing_one(
    alice: Fhir, ref: str, interaction: str
) -> None:
    resource_type, logical_id = ref.split("/")
    missing = f"{resource_type}/nobody-{resource_type.lower()}"
    hidden_response = alice.get(READS[interaction].format(ref=ref))
    missing_response = alice.get(READS[interaction].format(ref=missing))
    assert hidden_response.status_code == 404
    assert _normalised(hidden_response, logical_id) == _normalised(
        missing_response, missing.split("/")[1]
    )


@pytest.mark.parametrize("ref", BOB_RESOURCES)
def test_patching_bobs_resource_is_like_patching_a_missing_one(alice: Fhir, ref: str) -> None:
    resource_type, logical_id = ref.split("/")
    missing_id = f"nobody-{resource_type.lower()}"
    ops = [{"op": "replace", "path": "/id", "value": logical_id}]
    patch = {"content_type": "application/json-patch+json"}
    hidden = alice.send("PATCH", f"/{ref}", ops, **patch)
    missing = alice.send("PATCH", f"/{resource_type}/{missing_id}", ops, **patch)
    assert hidden.status_code == 404
    assert _normalised(hidden, logical_id) == _normalised(missing, missing_id)


def test_everything_of_bob_is_like_everything_of_nobody(alice: Fhir) -> None:
    hidden = alice.get("/Patient/bob/$everything")
    missing = alice.get("/Patient/nobody/$everything")
    assert hidden.status_code == 404
    assert _normalised(hidden, "bob") == _normalised(missing, "nobody")


def test_alice_reads_her_own_resources_and_the_shared_directory(alice: Fhir, world: World) -> None:
    for ref in [*world.alice, *SHARED]:
        assert alice.get(f"/{ref}").status_code == 200, ref


# Searches: (query, ids that must be among the matches).
SEARCHES = [
    ("/Observation", {"Observation/alice-observation", "Observation/alice-vitals"}),
    ("/Observation?code=http://loinc.org|2339-0", {"Observation/alice-observation"}),
    ("/Observation?code:not=http://loinc.org|2339-0", {"Observation/alice-vitals"}),
    ("/Observation?code:text=BOBMARK", set()),
    ("/Observation?code:text=ALICEMARK", {"Observation/alice-observation"}),
    ("/Observation?value-quantity=5.5", {"Observation/alice-observation"}),
    ("/Observation?value-quantity=5.5|http://unitsofmeasure.org|mmol/L", set()),
    ("/Observation?date=2024-03-01", {"Observation/alice-observation"}),
    ("/Observation?date=ge2000", {"Observation/alice-vitals"}),
    ("/Observation?subject=Patient/bob", set()),
    ("/Observation?patient=bob", set()),
    ("/Observation?subject:missing=false", {"Observation/alice-vitals"}),
    ("/Observation?identifier=urn:lab|bob-lab-1", set()),
    ("/Observation?code-value-quantity=http://loinc.org|2339-0$5.5", set()),
    ("/Observation?_id=bob-observation,alice-vitals", {"Observation/alice-vitals"}),
    ("/Observation?_lastUpdated=gt2000-01-01", {"Observation/alice-vitals"}),
    ("/Observation?_sort=-date&_total=accurate", {"Observation/alice-vitals"}),
    ("/Observation?_sort=code&_count=1", set()),
    ("/Patient?name=Bobson", set()),
    ("/Patient?name:contains=son", {"Patient/alice"}),
    ("/Patient?family:exact=Aliceson", {"Patient/alice"}),
    ("/Patient?birthdate=1970-01-01", {"Patient/alice"}),
    ("/Patient?organization=Organization/riverside", {"Patient/alice"}),
    ("/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|bob-nhs", set()),
    ("/Patient?_has:Observation:subject:code=2339-0", {"Patient/alice"}),
    ("/Practitioner?_has:Observation:performer:subject=Patient/bob", set()),
    ("/Observation?subject.name=Bobson", set()),
    ("/Observation?subject:Patient.birthdate=1970-01-01", {"Observation/alice-vitals"}),
    ("/DiagnosticReport?result.code=2339-0", {"DiagnosticReport/alice-diagnosticreport"}),
    ("/Observation?_include=Observation:subject", {"Patient/alice"}),
    ("/Observation?_include=Observation:performer", {"Practitioner/dr-khan"}),
    ("/Patient?_revinclude=Observation:subject", {"Observation/alice-vitals"}),
    ("/Patient?_revinclude=*", {"Condition/alice-condition"}),
    ("/MedicationRequest?_include=MedicationRequest:medication", {"Medication/shared-med"}),
    ("/Practitioner?_revinclude=Observation:performer", {"Observation/alice-observation"}),
    ("/Practitioner?_revinclude=CareTeam:participant", {"CareTeam/alice-careteam"}),
    ("/Organization?_revinclude=Patient:organization", {"Patient/alice"}),
    (
        "/CareTeam?_include=CareTeam:participant&_revinclude:iterate=Observation:performer",
        {"Observation/alice-observation"},
    ),
    ("/Medication?_revinclude=MedicationRequest:medication", {"Medication/shared-med"}),
    ("?_type=Observation,Condition", {"Condition/alice-condition"}),
    ("?_lastUpdated=gt2000-01-01&_count=100", {"Goal/alice-goal", "Practitioner/dr-khan"}),
    ("?_id=bob,alice", {"Patient/alice"}),
    ("/Patient/bob/Observation", set()),
    ("/Patient/alice/Observation", {"Observation/alice-vitals"}),
    ("/Observation/$lastn?patient=Patient/bob", set()),
    ("/Observation/$lastn?patient=Patient/alice", {"Observation/alice-vitals"}),
    ("/Patient/$everything", {"Patient/alice", "Medication/shared-med"}),
    ("/Patient/alice/$everything", {"Goal/alice-goal", "Organization/riverside"}),
    *[(f"/{t}", {f"{t}/alice-{t.lower()}"}) for t in RECORD_TYPES[1:-1]],
    ("/Patient", {"Patient/alice"}),
]


@pytest.mark.parametrize(("query", "expected"), SEARCHES)
def test_searches_return_only_alices_rows_and_count_only_them(
    alice: Fhir, query: str, expected: set[str], django_assert_max_num_queries: Any
) -> None:
    # Token lookup, the audit record and the search itself; an N+1 over entries would exceed it.
    with django_assert_max_num_queries(14):
        response = alice.get(query)
    assert response.status_code == 200, response.content
    _no_bob(_entries_text(response))
    found = set(entries(response))
    assert expected <= found
    body = body_of(response)
    matches = [e for e in body.get("entry", []) if e.get("search", {}).get("mode") != "include"]
    if "total" in body and not any(link["relation"] == "next" for link in body.get("link", [])):
        assert body["total"] == len(matches)


def test_summary_count_totals_only_alices_rows(alice: Fhir) -> None:
    response = alice.get("/Observation?_summary=count")
    assert response.json()["total"] == 2


@pytest.mark.parametrize("path", ["/_history", "/Observation/_history", "/Patient/_history"])
def test_history_lists_only_alices_versions(alice: Fhir, path: str) -> None:
    response = alice.get(f"{path}?_count=100")
    assert response.status_code == 200
    _no_bob(_entries_text(response))
    assert response.json()["total"] == len(response.json()["entry"])


def test_paging_a_search_never_reaches_bob(alice: Fhir) -> None:
    seen: list[str] = []
    response = alice.get("/Observation?_count=1&_total=accurate")
    assert response.json()["total"] == 2
    while True:
        _no_bob(_entries_text(response))
        seen += entries(response)
        nxt = [link["url"] for link in response.json()["link"] if link["relation"] == "next"]
        if not nxt:
            break
        response = alice.get(nxt[0].split("/fhir", 1)[1])
    assert sorted(seen) == ["Observation/alice-observation", "Observation/alice-vitals"]


# --- writes ---------------------------------------------------------------------------------


def _version(ref: str) -> int:
    resource_type, logical_id = ref.split("/")
    return Resource.objects.get(resource_type=resource_type, logical_id=logical_id).version


def _observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": subject},
        **extra,
    }


def test_updating_bobs_resource_is_403_and_writes_nothing(alice: Fhir) -> None:
    for subject in ("Patient/bob", "Patient/alice"):
        doc = _observation(subject, id="bob-observation")
        response = alice.send("PUT", "/Observation/bob-observation", doc)
        assert response.status_code == 403
        _no_bob(response.content.replace(b"bob-observation", b""))
    assert _version("Observation/bob-observation") == 1


def test_creating_in_bobs_compartment_is_403_and_writes_nothing(alice: Fhir) -> None:
    before = Resource.objects.count()
    response = alice.send("POST", "/Observation", _observation("Patient/bob"))
    assert response.status_code == 403
    assert Resource.objects.count() == before


def test_deleting_bobs_resource_is_403_and_writes_nothing(alice: Fhir) -> None:
    response = alice.send("DELETE", "/Observation/bob-observation")
    assert response.status_code == 403
    assert _version("Observation/bob-observation") == 1


def test_conditional_writes_never_match_bobs_resources(alice: Fhir) -> None:
    criteria = "identifier=urn:lab|bob-lab-1"
    doc = _observation("Patient/alice", identifier=[{"system": "urn:lab", "value": "bob-lab-1"}])
    created = alice.send("POST", "/Observation", doc, **{"If-None-Exist": criteria})
    assert created.status_code == 201
    assert created.json()["id"] != "bob-observation"
    assert alice.send("DELETE", f"/Observation?{criteria}&subject=Patient/bob").status_code in (
        200,
        204,
    )
    updated = alice.send("PUT", "/Observation?_id=bob-observation", _observation("Patient/alice"))
    assert updated.status_code == 201
    assert updated.json()["id"] != "bob-observation"
    assert _version("Observation/bob-observation") == 1
    assert not Resource.objects.get(logical_id="bob-observation").deleted


def _bundle(kind: str, *requests: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(requests)}


def _get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def test_batch_entries_are_each_scoped(alice: Fhir) -> None:
    batch = _bundle(
        "batch",
        _get("Observation/bob-observation"),
        _get("Observation/nobody-observation"),
        _get("Observation?subject=Patient/bob"),
        _get("Observation/bob-observation/_history"),
        _get("Patient/alice"),
        {
            "resource": _observation("Patient/bob", id="bob-observation"),
            "request": {"method": "PUT", "url": "Observation/bob-observation"},
        },
    )
    response = alice.send("POST", "", batch)
    assert response.status_code == 200
    results = response.json()["entry"]
    statuses = [entry["response"]["status"][:3] for entry in results]
    assert statuses == ["404", "404", "200", "404", "200", "403"]
    hidden, missing = (json.dumps(results[i]["response"]) for i in (0, 1))
    hidden = hidden.replace("bob-observation", "ID").replace("entry[0]", "entry[N]")
    assert hidden == missing.replace("nobody-observation", "ID").replace("entry[1]", "entry[N]")
    _no_bob(json.dumps(results[2]["resource"]).encode())
    assert _version("Observation/bob-observation") == 1


def test_a_transaction_touching_bobs_record_writes_nothing(alice: Fhir) -> None:
    before = Resource.objects.count()
    transaction_bundle = _bundle(
        "transaction",
        {
            "fullUrl": "urn:uuid:6f0b6a4e-94a4-4d55-9a5c-6c1f1a1b0001",
            "resource": _observation("Patient/alice"),
            "request": {"method": "POST", "url": "Observation"},
        },
        {
            "fullUrl": "urn:uuid:6f0b6a4e-94a4-4d55-9a5c-6c1f1a1b0002",
            "resource": _observation("Patient/bob"),
            "request": {"method": "POST", "url": "Observation"},
        },
    )
    response = alice.send("POST", "", transaction_bundle)
    assert response.status_code == 403
    assert Resource.objects.count() == before


def test_a_transaction_updating_bobs_resource_writes_nothing(alice: Fhir) -> None:
    transaction_bundle = _bundle(
        "transaction",
        {
            "resource": _observation("Patient/alice", id="bob-observation"),
            "request": {"method": "PUT", "url": "Observation/bob-observation"},
        },
        {"request": {"method": "DELETE", "url": "Condition/bob-condition"}},
    )
    response = alice.send("POST", "", transaction_bundle)
    assert response.status_code == 403
    assert _version("Observation/bob-observation") == 1
    assert _version("Condition/bob-condition") == 1


# --- scopes narrower than the whole record --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/Condition",
        "/Condition/alice-condition",
        "/Condition/alice-condition/_history/1",
        "/Condition/_history",
        "/Patient/alice/$everything",
        "?_type=Condition",
        "/Patient/alice/Condition",
    ],
)
def test_a_type_not_granted_is_403(world: World, db: None, path: str) -> None:
    response = Fhir(world.tokens["observations"]).get(path)
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"


def test_includes_and_history_drop_types_not_granted(world: World, db: None) -> None:
    fhir = Fhir(world.tokens["observations"])
    included = fhir.get("/Observation?_include=Observation:subject")
    expected = ["Observation/alice-observation", "Observation/alice-vitals"]
    assert sorted(entries(included)) == expected
    history = fhir.get("/_history")
    assert {ref.split("/")[0] for ref in entries(history)} == {"Observation"}


def test_granular_scope_shows_only_matching_rows(world: World, db: None) -> None:
    fhir = Fhir(world.tokens["labs"])
    searched = fhir.get("/Observation?_total=accurate")
    assert entries(searched) == ["Observation/alice-observation"]
    assert searched.json()["total"] == 1
    hidden = fhir.get("/Observation/alice-vitals")
    missing = fhir.get("/Observation/nobody")
    assert _normalised(hidden, "alice-vitals") == _normalised(missing, "nobody")
    assert fhir.get("/Observation/alice-observation").status_code == 200
    lastn = fhir.get("/Observation/$lastn?patient=alice")
    assert entries(lastn) == ["Observation/alice-observation"]


def test_v1_scopes_read_and_write_the_record(world: World, db: None) -> None:
    fhir = Fhir(world.tokens["v1"])
    assert fhir.get("/Goal/alice-goal").status_code == 200
    created = fhir.send("POST", "/Observation", _observation("Patient/alice"))
    assert created.status_code == 201
    assert fhir.send("POST", "/Observation", _observation("Patient/bob")).status_code == 403


def test_binary_of_another_patient_is_not_served(alice: Fhir) -> None:
    response = alice.get("/Binary/bob-binary")
    assert response.status_code == 404
    _no_bob(response.content.replace(b"bob-binary", b""))
    assert base64.b64encode(b"BOBMARK") not in response.content


def test_versions_written_while_a_resource_was_bobs_stay_hidden(alice: Fhir) -> None:
    misfiled = _observation("Patient/bob", id="misfiled")
    put(misfiled)
    put({**misfiled, "subject": {"reference": "Patient/alice"}})
    assert alice.get("/Observation/misfiled").status_code == 200
    assert alice.get("/Observation/misfiled/_history/2").status_code == 200
    hidden = alice.get("/Observation/misfiled/_history/1")
    missing = alice.get("/Observation/nobody/_history/1")
    assert _normalised(hidden, "misfiled") == _normalised(missing, "nobody")
    history = alice.get("/Observation/misfiled/_history")
    _no_bob(_entries_text(history))
    assert [e["resource"]["meta"]["versionId"] for e in body_of(history)["entry"]] == ["2"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/Practitioner/dr-khan"), ("DELETE", "/Organization/riverside")],
)
def test_patients_cannot_write_the_shared_directory(alice: Fhir, method: str, path: str) -> None:
    doc = {"resourceType": path.split("/")[1], "id": path.split("/")[2]}
    assert alice.send(method, path, doc if method == "PUT" else None).status_code == 403
    assert _version(path.lstrip("/")) == 1


def test_granular_scope_applies_to_history(world: World, db: None) -> None:
    fhir = Fhir(world.tokens["labs"])
    assert entries(fhir.get("/Observation/_history")) == ["Observation/alice-observation"]
    hidden = fhir.get("/Observation/alice-vitals/_history")
    assert _normalised(hidden, "alice-vitals") == _normalised(
        fhir.get("/Observation/nobody/_history"), "nobody"
    )


def test_post_search_is_scoped_like_get(alice: Fhir) -> None:
    response = alice.client.post(
        "/fhir/Observation/_search",
        "subject=Patient/bob&_total=accurate",
        content_type="application/x-www-form-urlencoded",
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["total"] == 0
    _no_bob(_entries_text(response))
