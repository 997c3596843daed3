"""The CapabilityStatement cannot claim what is not routed."""

from django.urls import Resolver404, resolve

from api.fhir import capability


def _view_name(method_path):
    _method, path = method_path
    match = resolve("/fhir" + (path if path != "/" else ""))
    return match.url_name


def test_every_claimed_interaction_resolves_to_a_real_view():
    claimed = {**capability.TYPE_INTERACTIONS, **capability.SYSTEM_INTERACTIONS}

    names = {code: _view_name(where) for code, where in claimed.items()}

    assert "fhir-unknown" not in names.values(), names


def test_every_claimed_operation_resolves():
    for name, (_definition, path) in capability.OPERATIONS.items():
        try:
            assert resolve("/fhir" + path).url_name != "fhir-unknown", name
        except Resolver404:
            raise AssertionError(f"${name} is claimed but not routed") from None


def test_metadata_reports_r4_json_and_every_type(fhir):
    statement = fhir.get("/metadata").json()

    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    types = {entry["type"] for entry in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Goal", "CarePlan", "CareTeam", "Binary"} <= types
    patient = next(e for e in statement["rest"][0]["resource"] if e["type"] == "Patient")
    assert {i["code"] for i in patient["interaction"]} == set(capability.TYPE_INTERACTIONS)


def test_metadata_lists_registered_search_parameters(fhir):
    from fhirstore.search.registry import params_for

    statement = fhir.get("/metadata").json()
    observation = next(e for e in statement["rest"][0]["resource"] if e["type"] == "Observation")

    listed = {p["name"]: p["type"] for p in observation["searchParam"]}
    assert listed == {code: p.type for code, p in params_for("Observation").items()}
