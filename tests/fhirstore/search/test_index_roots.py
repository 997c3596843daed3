"""Skipping parameters whose elements a resource lacks (`fhirpath.root_elements`) changes no
index row: the names read from each expression, and a check over real resources."""

import json
from pathlib import Path

import pytest

from fhirstore.search import indexer
from fhirstore.search.fhirpath import present_names, root_elements

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize(
    ("expression", "roots"),
    [
        ("Observation.code", {"code"}),
        ("Observation.subject.where(resolve() is Patient)", {"subject"}),
        ("(Observation.value as Quantity) | (Observation.value as SampledData)", {"value"}),
        ("Observation.effective | Patient.birthDate", {"effective"}),
        ("Patient.birthDate", set()),
        ("Resource.id", {"id"}),
        ("Observation.component.code", {"component"}),
    ],
)
def test_the_top_level_elements_an_expression_reads(expression, roots):
    assert root_elements(expression, resource_type="Observation") == roots


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.deceased.exists() and Patient.deceased != false",
        "%resource.code",
        "Patient",
        "Patient.extension('http://example.org/x')",
    ],
)
def test_expressions_that_may_yield_from_nothing_always_run(expression):
    assert root_elements(expression, resource_type="Patient") is None


def test_a_choice_element_is_present_under_its_name_without_type():
    names = present_names({"resourceType": "Observation", "effectiveDateTime": "2020"})

    assert {"effectiveDateTime", "effective", "resourceType"} <= names


def _resources() -> list[dict]:
    found: list[dict] = []
    for path in sorted((DATA / "r4-examples").glob("*.json")) + sorted(
        (DATA / "synthea").glob("*.json")
    ):
        doc = json.loads(path.read_text())
        entries = (
            doc.get("entry", []) if doc.get("resourceType") == "Bundle" else [{"resource": doc}]
        )
        found.extend(entry["resource"] for entry in entries)
    return found


def test_every_skipped_parameter_would_have_yielded_nothing():
    skipped = 0
    for doc in _resources():
        present = present_names(doc)
        plan = indexer.plan_for(doc["resourceType"])
        for part in (*plan.parts, *plan.composites):
            if part.roots is not None and part.roots.isdisjoint(present):
                skipped += 1
                assert part.extract(doc, doc) == [], (doc["resourceType"], part)

    assert skipped > 1000
