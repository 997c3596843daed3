"""Transaction and batch Bundles through `fhirstore.bundles` (https://hl7.org/fhir/R4/http.html#transaction)."""

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fhirstore import bundles, jsontext
from fhirstore.context import SYSTEM, AccessScope
from fhirstore.errors import FhirError
from fhirstore.models import INDEX_TABLES, CompartmentMember, Resource, ResourceVersion
from fhirstore.repository import Repository

pytestmark = pytest.mark.django_db(transaction=False)
NHS = "https://fhir.nhs.uk/Id/nhs-number"


@pytest.fixture
def repo() -> Repository:
    return Repository(scope=SYSTEM)


def bundle(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(
    resource: dict[str, Any], url: str, full_url: str | None = None, **request: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "PUT", "url": url, **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def call(method: str, url: str) -> dict[str, Any]:
    return {"request": {"method": method, "url": url}}


def patient(nhs: str = "9000000009", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": "Okafor"}],
        **extra,
    }


def observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": subject},
        **extra,
    }


def run(repo: Repository, doc: dict[str, Any], prefer: str | None = None) -> dict[str, Any]:
    return json.loads(bundles.process_bundle(repo=repo, bundle=doc, prefer=prefer))


def stored(resource_type: str, location: str) -> dict[str, Any]:
    logical_id = location.split("/")[1]
    return jsontext.loads(
        Resource.objects.get(resource_type=resource_type, logical_id=logical_id).text
    )


def row_counts() -> dict[str, int]:
    counts = {
        model.__name__: model.objects.count()
        for model in (Resource, ResourceVersion, CompartmentMember)
    }
    counts.update({table.__name__: table._default_manager.count() for table in INDEX_TABLES})
    return counts


def existing_patient(repo: Repository, nhs: str = "9000000009") -> str:
    return repo.create(doc=patient(nhs)).stored.id


# --- transaction: references ----------------------------------------------------------------


def test_transaction_resolves_urn_uuid_references_everywhere(repo):
    obs = observation(
        "urn:uuid:p1",
        performer=[{"reference": "urn:uuid:p1"}],
        extension=[
            {"url": "http://example.org/about", "valueReference": {"reference": "urn:uuid:p1"}}
        ],
    )
    response = run(repo, bundle(post(obs, "urn:uuid:o1"), post(patient(), "urn:uuid:p1")))

    patient_ref = response["entry"][1]["response"]["location"].rsplit("/_history", 1)[0]
    saved = stored("Observation", response["entry"][0]["response"]["location"])
    assert saved["subject"]["reference"] == patient_ref
    assert saved["performer"][0]["reference"] == patient_ref
    assert saved["extension"][0]["valueReference"]["reference"] == patient_ref
    assert CompartmentMember.objects.filter(patient_id=patient_ref.split("/")[1]).count() == 2


def test_transaction_resolves_urn_inside_contained_resources(repo):
    contained = {
        "resourceType": "Provenance",
        "id": "p",
        "recorded": "2024-01-01T00:00:00Z",
        "target": [{"reference": "urn:uuid:pt"}],
        "agent": [{"who": {"reference": "urn:uuid:pt"}}],
    }
    obs = observation("urn:uuid:pt", contained=[contained])
    response = run(repo, bundle(post(patient(), "urn:uuid:pt"), post(obs)))

    patient_id = response["entry"][0]["response"]["location"].split("/")[1]
    saved = stored("Observation", response["entry"][1]["response"]["location"])
    assert saved["contained"][0]["target"][0]["reference"] == f"Patient/{patient_id}"


def test_put_entry_fullurl_maps_to_its_own_id(repo):
    response = run(
        repo,
        bundle(
            put(patient(id="p355"), "Patient/p355", "urn:uuid:x"), post(observation("urn:uuid:x"))
        ),
    )

    assert response["entry"][0]["response"]["status"] == "201 Created"
    assert (
        stored("Observation", response["entry"][1]["response"]["location"])["subject"]["reference"]
        == "Patient/p355"
    )


def test_unknown_urn_reference_fails_the_transaction(repo):
    with pytest.raises(FhirError) as failure:
        run(repo, bundle(post(observation("urn:uuid:nowhere"))))

    assert failure.value.http_status == 400
    assert "Bundle.entry[0]" in failure.value.issues[0].expression
    assert Resource.objects.count() == 0


def test_conditional_reference_resolves_to_the_stored_match(repo):
    patient_id = existing_patient(repo)
    response = run(repo, bundle(post(observation(f"Patient?identifier={NHS}|9000000009"))))

    saved = stored("Observation", response["entry"][0]["response"]["location"])
    assert saved["subject"]["reference"] == f"Patient/{patient_id}"


def test_conditional_reference_may_name_a_patient_created_in_the_same_bundle(repo):
    response = run(
        repo, bundle(post(observation(f"Patient?identifier={NHS}|42")), post(patient("42")))
    )

    patient_id = response["entry"][1]["response"]["location"].split("/")[1]
    assert (
        stored("Observation", response["entry"][0]["response"]["location"])["subject"]["reference"]
        == f"Patient/{patient_id}"
    )


def test_conditional_reference_without_a_match_writes_nothing(repo):
    with pytest.raises(FhirError) as failure:
        run(
            repo, bundle(post(patient("1")), post(observation(f"Patient?identifier={NHS}|missing")))
        )

    assert failure.value.http_status == 400
    assert "Bundle.entry[1]" in failure.value.issues[0].expression
    assert Resource.objects.count() == 0


def test_conditional_reference_with_two_matches_is_412(repo):
    existing_patient(repo, "7")
    existing_patient(repo, "7")

    with pytest.raises(FhirError) as failure:
        run(repo, bundle(post(observation(f"Patient?identifier={NHS}|7"))))

    assert failure.value.http_status == 412


# --- transaction: conditional writes ----------------------------------------------------------


def test_if_none_exist_returns_the_match_and_references_follow_it(repo):
    patient_id = existing_patient(repo)
    doc = bundle(
        post(patient(), "urn:uuid:p", ifNoneExist=f"identifier={NHS}|9000000009"),
        post(observation("urn:uuid:p")),
    )
    response = run(repo, doc)

    assert response["entry"][0]["response"]["status"] == "200 OK"
    assert response["entry"][0]["response"]["location"] == f"Patient/{patient_id}/_history/1"
    assert Resource.objects.filter(resource_type="Patient").count() == 1
    assert (
        stored("Observation", response["entry"][1]["response"]["location"])["subject"]["reference"]
        == f"Patient/{patient_id}"
    )


def test_conditional_update_updates_the_one_match(repo):
    patient_id = existing_patient(repo)
    response = run(
        repo, bundle(put(patient(gender="female"), f"Patient?identifier={NHS}|9000000009"))
    )

    assert response["entry"][0]["response"]["status"] == "200 OK"
    assert response["entry"][0]["response"]["location"] == f"Patient/{patient_id}/_history/2"
    assert stored("Patient", f"Patient/{patient_id}")["gender"] == "female"


def test_conditional_delete_deletes_the_match(repo):
    patient_id = existing_patient(repo)
    response = run(repo, bundle(call("DELETE", f"Patient?identifier={NHS}|9000000009")))

    assert response["entry"][0]["response"]["status"] == "204 No Content"
    assert Resource.objects.get(logical_id=patient_id).deleted


# --- transaction: order, all or nothing, duplicates --------------------------------------------


def test_processing_order_is_delete_post_put_get_and_reads_see_writes(repo):
    keep = repo.update(
        resource_type="Patient", logical_id="keep", doc=patient("1", id="keep")
    ).stored
    repo.update(resource_type="Patient", logical_id="gone", doc=patient("2", id="gone"))
    doc = bundle(
        call("GET", f"Patient?identifier={NHS}|3"),
        call("GET", "Patient/keep"),
        put(patient("1", id="keep", gender="male"), "Patient/keep"),
        post(patient("3")),
        call("DELETE", "Patient/gone"),
    )
    response = run(repo, doc)

    statuses = [entry["response"]["status"] for entry in response["entry"]]
    assert statuses == ["200 OK", "200 OK", "200 OK", "201 Created", "204 No Content"]
    assert response["entry"][0]["resource"]["total"] == 1
    assert response["entry"][1]["resource"]["gender"] == "male"
    assert response["entry"][1]["resource"]["meta"]["versionId"] == str(keep.version + 1)
    assert Resource.objects.get(logical_id="gone").deleted


def test_an_invalid_entry_fails_the_whole_transaction_and_writes_nothing(repo):
    existing_patient(repo)
    before = row_counts()
    bad = observation("Patient/x", valuePeriod={"start": "2020-01-01", "stop": "2020-02-01"})
    doc = bundle(
        post(patient("5"), "urn:uuid:a"),
        put(patient("6", id="p6"), "Patient/p6"),
        post(bad),
        call("DELETE", "Patient/other"),
    )

    with pytest.raises(FhirError) as failure:
        run(repo, doc)

    assert failure.value.http_status == 400
    assert failure.value.issues[0].expression[0] == "Bundle.entry[2]"
    assert "stop" in failure.value.diagnostics
    assert row_counts() == before


def test_a_failure_after_the_bulk_inserts_rolls_them_back(repo):
    existing = existing_patient(repo)
    before = row_counts()
    doc = bundle(
        post(patient("5")),
        post(observation("Patient/x")),
        put(patient(id=existing), f"Patient/{existing}", ifMatch='W/"9"'),
    )

    with pytest.raises(FhirError) as failure:
        run(repo, doc)

    assert failure.value.http_status == 412
    assert failure.value.issues[0].expression[0] == "Bundle.entry[2]"
    assert row_counts() == before


def test_two_entries_writing_one_resource_are_rejected(repo):
    with pytest.raises(FhirError) as failure:
        run(repo, bundle(put(patient(id="a"), "Patient/a"), call("DELETE", "Patient/a")))

    assert failure.value.http_status == 400
    assert failure.value.issues[0].code == "duplicate"
    assert Resource.objects.count() == 0


def test_duplicate_full_urls_are_rejected(repo):
    with pytest.raises(FhirError) as failure:
        run(repo, bundle(post(patient("1"), "urn:uuid:a"), post(patient("2"), "urn:uuid:a")))

    assert failure.value.http_status == 400


def test_patch_entry_applies_a_json_patch_binary(repo):
    patient_id = existing_patient(repo)
    operations = json.dumps([{"op": "add", "path": "/gender", "value": "other"}]).encode()
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(operations).decode(),
    }
    response = run(
        repo,
        bundle(
            {"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{patient_id}"}}
        ),
    )

    assert response["entry"][0]["response"]["status"] == "200 OK"
    assert stored("Patient", f"Patient/{patient_id}")["gender"] == "other"


def test_creates_cost_the_same_queries_for_five_or_fifty_resources(repo):
    def queries(count: int) -> int:
        entries = [post(patient(str(n)), f"urn:uuid:{n}") for n in range(count)]
        entries += [post(observation(f"urn:uuid:{n}")) for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            run(repo, bundle(*entries))
        return len(captured)

    assert queries(5) == queries(50)


def test_a_scope_without_write_access_writes_nothing(repo):
    reader = Repository(scope=AccessScope(writable=frozenset({"Observation"})))

    with pytest.raises(FhirError) as failure:
        run(reader, bundle(post(patient())))

    assert failure.value.http_status == 403
    assert Resource.objects.count() == 0


# --- response shape ---------------------------------------------------------------------------


def test_transaction_response_has_a_response_per_entry_in_request_order(repo):
    response = run(repo, bundle(post(observation("urn:uuid:p")), post(patient(), "urn:uuid:p")))

    assert response["type"] == "transaction-response"
    first = response["entry"][0]
    assert first["response"]["status"] == "201 Created"
    assert first["response"]["location"].startswith("Observation/")
    assert first["response"]["location"].endswith("/_history/1")
    assert first["response"]["etag"] == 'W/"1"'
    assert first["response"]["lastModified"].endswith("Z")
    assert "resource" not in first
    assert response["entry"][1]["response"]["location"].startswith("Patient/")


def test_prefer_representation_returns_each_stored_resource(repo):
    response = run(repo, bundle(post(patient())), prefer="return=representation")

    resource = response["entry"][0]["resource"]
    assert resource["meta"]["versionId"] == "1"
    assert response["entry"][0]["fullUrl"].endswith(f"/Patient/{resource['id']}")


# --- envelope -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (bundle(kind="collection"), "Bundle.type"),
        (bundle({"resource": patient()}), "Bundle.entry[0].request"),
        (
            bundle({"request": {"method": "FETCH", "url": "Patient"}}),
            "Bundle.entry[0].request.method",
        ),
        (
            bundle({"request": {"method": "POST"}, "resource": patient()}),
            "Bundle.entry[0].request.url",
        ),
        (bundle({"request": {"method": "POST", "url": "Patient"}}), "Bundle.entry[0].resource"),
        (
            bundle({"request": {"method": "POST", "url": "Observation"}, "resource": patient()}),
            "Bundle.entry[0].resource",
        ),
        ({"resourceType": "Bundle", "type": "batch", "entry": {}}, "Bundle.entry"),
    ],
)
def test_a_malformed_envelope_is_a_400_naming_the_element(repo, doc, where):
    with pytest.raises(FhirError) as failure:
        run(repo, doc)

    assert failure.value.http_status == 400
    assert where in failure.value.issues[0].expression


# --- batch ----------------------------------------------------------------------------------------


def test_batch_entries_succeed_or_fail_on_their_own(repo):
    bad = observation("Patient/x", valueBoolean="yes")
    response = run(
        repo, bundle(post(patient()), post(bad), call("GET", "Patient/nope"), kind="batch")
    )

    assert response["type"] == "batch-response"
    statuses = [entry["response"]["status"] for entry in response["entry"]]
    assert statuses == ["201 Created", "400 Bad Request", "404 Not Found"]
    outcome = response["entry"][1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"][0] == "Bundle.entry[1]"
    assert Resource.objects.filter(resource_type="Patient").count() == 1
    assert Resource.objects.filter(resource_type="Observation").count() == 0


def test_batch_runs_updates_and_conditional_creates(repo):
    patient_id = existing_patient(repo)
    doc = bundle(
        put(patient(id=patient_id, gender="female"), f"Patient/{patient_id}"),
        post(patient(), ifNoneExist=f"identifier={NHS}|9000000009"),
        kind="batch",
    )
    response = run(repo, doc)

    assert [entry["response"]["status"] for entry in response["entry"]] == ["200 OK", "200 OK"]
    assert Resource.objects.filter(resource_type="Patient").count() == 1


def test_bulk_insert_of_an_id_taken_meanwhile_is_a_409_and_writes_nothing(repo):
    from django.db import transaction

    from fhirstore import writes
    from fhirstore.bundles.bulk import create_many, prepare_new

    repo.update(resource_type="Patient", logical_id="taken", doc=patient(id="taken"))
    before = row_counts()
    moment = writes.now()
    items = [
        prepare_new(doc=patient("1"), logical_id="fresh", moment=moment, method="POST"),
        prepare_new(doc=patient("2"), logical_id="taken", moment=moment, method="PUT"),
    ]

    with pytest.raises(FhirError) as failure, transaction.atomic():
        create_many(items, moment=moment)

    assert failure.value.http_status == 409
    assert row_counts() == before


def test_conditional_update_with_another_id_in_the_body_is_rejected(repo):
    existing_patient(repo)

    with pytest.raises(FhirError) as failure:
        run(repo, bundle(put(patient(id="other"), f"Patient?identifier={NHS}|9000000009")))

    assert failure.value.http_status == 400
    assert Resource.objects.filter(logical_id="other").count() == 0
