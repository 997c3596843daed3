"""The search parameter registry and the FHIRPath compiler over the R4 definitions."""

import pytest

from fhirstore.search import registry
from fhirstore.search.fhirpath import Unsupported, compile_path

CLINICAL = (
    "Patient", "Observation", "Condition", "Encounter", "Procedure", "MedicationRequest",
    "MedicationStatement", "AllergyIntolerance", "Immunization", "DiagnosticReport", "CarePlan",
    "CareTeam", "Goal", "DocumentReference", "Appointment", "QuestionnaireResponse", "Consent",
    "Communication", "Provenance", "AuditEvent", "ServiceRequest", "Practitioner", "Organization",
)  # fmt: skip


def test_every_definition_with_an_expression_is_loaded():
    reg = registry.registry()

    assert sorted(reg.unsupported) == [
        "http://hl7.org/fhir/SearchParameter/DomainResource-text",
        "http://hl7.org/fhir/SearchParameter/Location-near",
        "http://hl7.org/fhir/SearchParameter/Resource-content",
        "http://hl7.org/fhir/SearchParameter/Resource-query",
    ]
    assert len(registry.resource_types()) == 145


def test_no_parameter_of_any_type_is_skipped_by_the_compiler():
    skipped = {rt: registry.compiled_for(rt)[1] for rt in registry.resource_types()}

    assert {rt: s for rt, s in skipped.items() if s} == {}
    assert sum(len(registry.compiled_for(rt)[0]) for rt in CLINICAL) == 533


def test_params_for_includes_the_common_parameters():
    params = registry.params_for("Observation")

    assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= set(params)
    assert "_text" not in params
    assert params["code"].type == "token"
    assert params["patient"].targets == ("Patient",)


def test_param_lookup_and_composite_components():
    composite = registry.param("Observation", "component-code-value-quantity")

    assert composite is not None
    assert [(c.code, c.type, c.expression) for c in composite.components] == [
        ("component-code", "token", "code"),
        ("component-value-quantity", "quantity", "value.as(Quantity)"),
    ]
    assert registry.param("Observation", "nope") is None
    assert registry.params_for("NotAType") == {}


def test_multi_base_parameter_is_registered_for_each_type():
    assert (
        registry.param("Condition", "patient").base == registry.param("Observation", "patient").base
    )


def test_compiled_union_keeps_only_the_branches_of_the_type():
    extract = compile_path("Patient.name | Practitioner.name", resource_type="Patient")
    doc = {"resourceType": "Patient", "name": [{"family": "A"}]}

    assert extract(doc, doc) == [({"family": "A"}, None)]


def test_choice_elements_carry_their_type():
    extract = compile_path("Observation.value | Observation.effective", resource_type="Observation")
    doc = {
        "resourceType": "Observation",
        "valueQuantity": {"value": 1},
        "effectiveDateTime": "2024",
    }

    assert extract(doc, doc) == [({"value": 1}, "Quantity"), ("2024", "DateTime")]


def test_where_with_literal_and_index():
    doc = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"id": "a"}}, {"resource": {"id": "b"}}],
    }

    assert compile_path("Bundle.entry[0].resource", resource_type="Bundle")(doc, doc) == [
        ({"id": "a"}, None)
    ]


def test_extension_by_url():
    doc = {
        "resourceType": "Patient",
        "extension": [
            {"url": "http://x/a", "valueCode": "en"},
            {"url": "http://x/b", "valueCode": "fr"},
        ],
    }

    extract = compile_path("Patient.extension('http://x/b').value", resource_type="Patient")

    assert extract(doc, doc) == [("fr", "Code")]


@pytest.mark.parametrize(
    "expression", ["Patient.name.first()", "Patient.name.select(given)", "Patient.#"]
)
def test_unsupported_fhirpath_is_reported(expression):
    with pytest.raises(Unsupported):
        compile_path(expression, resource_type="Patient")
