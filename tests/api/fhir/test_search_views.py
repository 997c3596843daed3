"""Search over HTTP: GET and POST _search agree, links, strict handling, compartment and system
search, and errors as OperationOutcome 400s."""

from urllib.parse import urlsplit

import pytest

from tests.fhirstore.search.querying import observation, patient

pytestmark = pytest.mark.django_db
AUTH = 2  # the token lookup, and the audit record every request writes


@pytest.fixture
def data():
    patient("ann")
    patient("bob", family="Baker")
    for day in ("01", "02", "03"):
        observation(subject="Patient/ann", when=f"2024-01-{day}", logical_id=f"a{day}")
    observation(subject="Patient/bob", logical_id="b01")


def entry_ids(bundle):
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def link(bundle, relation):
    found = [item["url"] for item in bundle["link"] if item["relation"] == relation]
    if not found:
        return None
    parts = urlsplit(found[0])
    return parts.path.removeprefix("/fhir") + "?" + parts.query


def test_get_and_post_search_give_the_same_entries(fhir, data, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        got = fhir.get("/Observation?subject=Patient/ann&_sort=date").json()
    posted = fhir.client.post(
        "/fhir/Observation/_search",
        "subject=Patient/ann&_sort=date",
        content_type="application/x-www-form-urlencoded",
    ).json()
    assert entry_ids(got) == entry_ids(posted) == ["a01", "a02", "a03"]
    assert got["type"] == "searchset"
    assert got["total"] == 3


def test_links_are_absolute_and_next_pages_on(fhir, data, settings):
    bundle = fhir.get("/Observation?_sort=date&_count=2&patient=ann&unknown=1").json()
    self_link = [item["url"] for item in bundle["link"] if item["relation"] == "self"][0]
    assert self_link.startswith(settings.FHIR_STORE["PUBLIC_BASE_URL"] + "/Observation?")
    assert "unknown" not in self_link
    following = fhir.get(link(bundle, "next")).json()
    assert entry_ids(following) == ["a03"]
    assert entry_ids(fhir.get(link(following, "previous")).json()) == ["a01", "a02"]


def test_strict_handling_rejects_unknown_parameters(fhir, data):
    response = fhir.get("/Observation?unknown=1", Prefer="handling=strict")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert fhir.get("/Observation?unknown=1", Prefer="handling=lenient").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["date=2024-99", "date=xx2020", "_sort=nope", "_count=abc", "_cursor=forged", "code:bad=1"],
)
def test_bad_values_are_400_operation_outcomes(fhir, data, query):
    response = fhir.get(f"/Observation?{query}")
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"]


def test_compartment_search(fhir, data, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        bundle = fhir.get("/Patient/bob/Observation").json()
    assert entry_ids(bundle) == ["b01"]


def test_system_search_with_type(fhir, data, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        bundle = fhir.get("/?_type=Patient&name=baker").json()
    assert entry_ids(bundle) == ["bob"]


def test_summary_count_has_no_entries(fhir, data):
    bundle = fhir.get("/Observation?_summary=count").json()
    assert bundle["total"] == 4
    assert "entry" not in bundle


def test_elements_subset_matches_and_tags_them(fhir, data):
    bundle = fhir.get("/Observation?_id=a01&_elements=status").json()
    resource = bundle["entry"][0]["resource"]
    assert "subject" not in resource
    assert resource["status"] == "final"
    assert "code" in resource  # mandatory elements are always kept
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_include_entries_are_marked_include(fhir, data):
    bundle = fhir.get("/Observation?_id=b01&_include=Observation:subject").json()
    modes = [(e["resource"]["id"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes == [("b01", "match"), ("bob", "include")]


def test_elements_apply_to_included_entries_too(fhir, data):
    bundle = fhir.get("/Observation?_id=b01&_include=Observation:subject&_elements=status").json()
    observation, person = (e["resource"] for e in bundle["entry"])
    assert observation["status"] == "final"
    assert "name" not in person
    assert person["meta"]["tag"][0]["code"] == "SUBSETTED"


@pytest.mark.parametrize(
    ("mode", "kept", "dropped"),
    [
        ("true", {"status", "code", "subject"}, set()),
        ("text", {"status", "code"}, {"subject", "effectiveDateTime"}),
        ("data", {"status", "code", "subject", "effectiveDateTime"}, {"text"}),
        ("false", {"status", "code", "subject", "effectiveDateTime"}, set()),
    ],
)
def test_summary_modes(fhir, data, mode, kept, dropped, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        bundle = fhir.get(f"/Observation?_id=a01&_summary={mode}").json()
    resource = bundle["entry"][0]["resource"]
    assert kept <= set(resource)
    assert not dropped & set(resource)
    tags = [t["code"] for t in resource.get("meta", {}).get("tag", [])]
    assert ("SUBSETTED" in tags) == (mode != "false")


def test_summary_count_and_total_none(fhir, data, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        counted = fhir.get("/Observation?subject=Patient/ann&_summary=count").json()
    # The token is remembered now, so its check rides in the page query (AccessScope.guard).
    with django_assert_num_queries(AUTH):
        no_total = fhir.get("/Observation?subject=Patient/ann&_total=none&_count=1").json()
    assert counted["total"] == 3
    assert "entry" not in counted
    assert "total" not in no_total
    assert len(no_total["entry"]) == 1


def test_post_search_equals_get_with_every_kind_of_parameter(fhir, data):
    query = (
        "subject:Patient.name=smith&date=ge2024-01-02&_sort=-date&_count=1"
        "&_include=Observation:subject&_elements=status&_total=accurate"
    )
    got = fhir.get(f"/Observation?{query}").json()
    posted = fhir.client.post(
        "/fhir/Observation/_search", query, content_type="application/x-www-form-urlencoded"
    ).json()

    def essence(bundle):
        entries = [(e["resource"]["id"], e["search"]["mode"]) for e in bundle["entry"]]
        return entries, bundle["total"], [item["relation"] for item in bundle["link"]]

    assert (
        essence(got)
        == essence(posted)
        == (
            [("a03", "match"), ("ann", "include")],
            2,
            [
                "self",
                "first",
                "next",
            ],
        )
    )


def test_compartment_search_with_criteria_and_system_search_over_types(fhir, data):
    in_compartment = fhir.get("/Patient/ann/Observation?date=ge2024-01-02&_sort=date").json()
    across = fhir.get("/?_type=Patient,Observation&_id=bob,b01&_sort=_id").json()
    assert entry_ids(in_compartment) == ["a02", "a03"]
    assert sorted(entry_ids(across)) == ["b01", "bob"]
