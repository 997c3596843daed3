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


def _entry(statement, resource_type):
    return next(e for e in statement["rest"][0]["resource"] if e["type"] == resource_type)


def test_search_operations_are_registered_and_listed_on_their_type(fhir):
    import api.fhir.urls  # noqa: F401  (routes register their operations)

    statement = fhir.get("/metadata").json()

    assert {"everything", "lastn"} <= set(capability.OPERATIONS)
    assert {o["name"] for o in _entry(statement, "Patient")["operation"]} >= {"everything"}
    assert {o["name"] for o in _entry(statement, "Observation")["operation"]} >= {"lastn"}
    assert {o["name"] for o in statement["rest"][0]["operation"]} >= {"everything", "lastn"}


def test_every_search_parameter_has_type_definition_and_its_modifiers(fhir):
    from fhirstore.search import registry

    statement = fhir.get("/metadata").json()

    for entry in statement["rest"][0]["resource"]:
        params = registry.params_for(entry["type"])
        listed = {p["name"]: p for p in entry.get("searchParam", [])}
        assert set(listed) == set(params), entry["type"]
        for code, item in listed.items():
            assert item["type"] == params[code].type
            assert item["definition"] == params[code].url
            for modifier in registry.modifiers(params[code].type):
                assert f":{modifier}" in item["documentation"], (entry["type"], code)


def test_includes_and_revincludes_follow_the_reference_parameters(fhir):
    from fhirstore.search import registry

    statement = fhir.get("/metadata").json()
    observation, patient = _entry(statement, "Observation"), _entry(statement, "Patient")

    references = {c for c, p in registry.params_for("Observation").items() if p.type == "reference"}
    assert set(observation["searchInclude"]) == {"*"} | {f"Observation:{c}" for c in references}
    assert {"Observation:subject", "Observation:patient", "Encounter:patient"} <= set(
        patient["searchRevInclude"]
    )
    assert "Observation:subject" not in _entry(statement, "Medication").get("searchRevInclude", [])
