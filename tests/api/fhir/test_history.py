"""History at instance, type and system level: order, _since, _at, _count and stable paging."""

from urllib.parse import urlsplit


def _versions(fhir, path):
    bundle = fhir.get(path).json()
    return [
        (e["fullUrl"].rsplit("/", 1)[-1], e["response"]["etag"]) for e in bundle.get("entry", [])
    ]


def _three_versions(fhir, patient_doc, logical_id="h1"):
    for gender in ("female", "male", "other"):
        fhir.put(f"/Patient/{logical_id}", {**patient_doc, "id": logical_id, "gender": gender})


def test_instance_history_is_newest_first_with_total(fhir, patient_doc):
    _three_versions(fhir, patient_doc)

    bundle = fhir.get("/Patient/h1/_history").json()

    assert bundle["type"] == "history"
    assert bundle["total"] == 3
    assert [e["resource"]["gender"] for e in bundle["entry"]] == ["other", "male", "female"]
    assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']


def test_type_and_system_history_include_every_resource(fhir, patient_doc):
    _three_versions(fhir, patient_doc, "a")
    fhir.create({"resourceType": "Practitioner", "name": [{"family": "Khan"}]})

    patients = fhir.get("/Patient/_history").json()
    everything = fhir.get("/_history?_count=100").json()

    assert patients["total"] == 3
    types = [e["resource"]["resourceType"] for e in everything["entry"]]
    assert types.count("Patient") == 3
    assert types.count("Practitioner") == 1
    assert types.count("Provenance") == 4  # every write carries its Provenance
    assert everything["total"] == 8


def test_count_pages_with_a_next_link_that_walks_every_version(fhir, patient_doc):
    _three_versions(fhir, patient_doc)
    seen = []
    url: str | None = "/Patient/h1/_history?_count=2"

    while url:
        bundle = fhir.get(url).json()
        seen += [e["response"]["etag"] for e in bundle["entry"]]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = (
            urlsplit(nxt[0]).path.removeprefix("/fhir") + "?" + urlsplit(nxt[0]).query
            if nxt
            else None
        )

    assert seen == ['W/"3"', 'W/"2"', 'W/"1"']


def test_paging_is_stable_when_new_versions_arrive(fhir, patient_doc):
    _three_versions(fhir, patient_doc)
    first = fhir.get("/Patient/h1/_history?_count=2").json()
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")

    fhir.put("/Patient/h1", {**patient_doc, "id": "h1", "gender": "unknown"})
    second = fhir.get(nxt.removeprefix("http://127.0.0.1:8000/fhir")).json()

    assert [e["response"]["etag"] for e in second["entry"]] == ['W/"1"']


def test_tampered_cursor_is_400(fhir, patient_doc):
    _three_versions(fhir, patient_doc)

    response = fhir.get("/Patient/h1/_history?_cursor=WyIyMDI2LTExIiwxXQ:forged:sig")

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_since_keeps_versions_written_at_or_after_the_instant(fhir, patient_doc):
    _three_versions(fhir, patient_doc)
    second = fhir.get("/Patient/h1/_history/2").json()["meta"]["lastUpdated"]

    bundle = fhir.get(f"/Patient/h1/_history?_since={second}").json()

    assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"3"', 'W/"2"']


def test_at_returns_the_version_current_at_that_moment(fhir, patient_doc):
    _three_versions(fhir, patient_doc)
    second = fhir.get("/Patient/h1/_history/2").json()["meta"]["lastUpdated"]

    bundle = fhir.get(f"/Patient/_history?_at={second}").json()

    assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"2"']


def test_bad_since_is_400(fhir):
    response = fhir.get("/_history?_since=yesterday")

    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_since"]


def test_history_of_unknown_resource_is_404(fhir):
    assert fhir.get("/Patient/nobody/_history").status_code == 404


def test_history_query_count_does_not_grow_with_versions(
    fhir, patient_doc, django_assert_max_num_queries
):
    _three_versions(fhir, patient_doc)
    for n in range(10):
        fhir.put("/Patient/h1", {**patient_doc, "id": "h1", "birthDate": f"19{50 + n}-01-01"})

    with django_assert_max_num_queries(5):
        bundle = fhir.get("/Patient/h1/_history?_count=50").json()

    assert len(bundle["entry"]) == 13
