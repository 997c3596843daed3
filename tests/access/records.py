"""A patient's record with one resource of every compartment type that matters, for the isolation
tests. Ids are `<who>-<type>`, and every resource carries the marker `<WHO>MARK` in some text, so a
leak of another person's data shows up in a plain substring check of a response body."""

import base64
from typing import Any

from tests.access.personas import put

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SHARED = ("Practitioner/dr-khan", "Organization/riverside", "Medication/shared-med")


def shared_directory() -> None:
    put({"resourceType": "Organization", "id": "riverside", "name": "Riverside Practice"})
    put({"resourceType": "Practitioner", "id": "dr-khan", "name": [{"family": "Khan"}]})
    put(
        {
            "resourceType": "Medication",
            "id": "shared-med",
            "code": {"coding": [{"system": SNOMED, "code": "322236009"}]},
        }
    )


def _concept(code: str, system: str = SNOMED, text: str = "") -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code}]}
    if text:
        concept["text"] = text
    return concept


def _docs(who: str) -> list[dict[str, Any]]:
    me = {"reference": f"Patient/{who}"}
    mark = f"{who.upper()}MARK"
    dr = {"reference": "Practitioner/dr-khan"}
    return [
        {
            "resourceType": "Patient",
            "id": who,
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": f"{who}-nhs"}],
            "name": [{"family": f"{who.capitalize()}son", "given": [mark]}],
            "birthDate": "1970-01-01",
            "managingOrganization": {"reference": "Organization/riverside"},
        },
        {
            "resourceType": "Observation",
            "id": f"{who}-observation",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
            "code": _concept("2339-0", LOINC, text=mark),
            "subject": me,
            "performer": [dr],
            "effectiveDateTime": "2024-03-01T10:00:00Z",
            "valueQuantity": {
                "value": 5.5,
                "unit": "mmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/L",
            },
            "identifier": [{"system": "urn:lab", "value": f"{who}-lab-1"}],
        },
        {
            "resourceType": "Observation",
            "id": f"{who}-vitals",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
            "code": _concept("8867-4", LOINC, text=mark),
            "subject": me,
            "effectiveDateTime": "2024-04-01T10:00:00Z",
            "valueQuantity": {"value": 72, "unit": "/min"},
        },
        {
            "resourceType": "Condition",
            "id": f"{who}-condition",
            "code": _concept("44054006", text=mark),
            "subject": me,
            "asserter": dr,
        },
        {
            "resourceType": "Encounter",
            "id": f"{who}-encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": me,
            "serviceProvider": {"reference": "Organization/riverside"},
            "reasonCode": [{"text": mark}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"{who}-medicationrequest",
            "status": "active",
            "intent": "order",
            "medicationReference": {"reference": "Medication/shared-med"},
            "subject": me,
            "requester": dr,
            "note": [{"text": mark}],
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": f"{who}-allergyintolerance",
            "patient": me,
            "code": _concept("91936005", text=mark),
        },
        {
            "resourceType": "Procedure",
            "id": f"{who}-procedure",
            "status": "completed",
            "subject": me,
            "code": _concept("80146002", text=mark),
        },
        {
            "resourceType": "Immunization",
            "id": f"{who}-immunization",
            "status": "completed",
            "vaccineCode": _concept("1119349007", text=mark),
            "patient": me,
            "occurrenceDateTime": "2023-10-01",
        },
        {
            "resourceType": "DiagnosticReport",
            "id": f"{who}-diagnosticreport",
            "status": "final",
            "code": _concept("24323-8", LOINC, text=mark),
            "subject": me,
            "result": [{"reference": f"Observation/{who}-observation"}],
        },
        {
            "resourceType": "CarePlan",
            "id": f"{who}-careplan",
            "status": "active",
            "intent": "plan",
            "subject": me,
            "title": mark,
        },
        {
            "resourceType": "Goal",
            "id": f"{who}-goal",
            "lifecycleStatus": "active",
            "description": {"text": mark},
            "subject": me,
        },
        {
            "resourceType": "CareTeam",
            "id": f"{who}-careteam",
            "status": "active",
            "name": mark,
            "subject": me,
            "participant": [{"member": dr}],
        },
        {
            "resourceType": "DocumentReference",
            "id": f"{who}-documentreference",
            "status": "current",
            "subject": me,
            "description": mark,
            "content": [{"attachment": {"url": f"Binary/{who}-binary"}}],
        },
        {
            "resourceType": "Consent",
            "id": f"{who}-consent",
            "status": "active",
            "scope": _concept(
                "patient-privacy", "http://terminology.hl7.org/CodeSystem/consentscope"
            ),
            "category": [_concept("59284-0", LOINC, text=mark)],
            "patient": me,
            "policyRule": _concept("OPTIN", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
        },
        {
            "resourceType": "Communication",
            "id": f"{who}-communication",
            "status": "completed",
            "subject": me,
            "payload": [{"contentString": mark}],
        },
        {
            "resourceType": "RelatedPerson",
            "id": f"{who}-relatedperson",
            "patient": me,
            "name": [{"family": mark}],
        },
        {
            "resourceType": "Binary",
            "id": f"{who}-binary",
            "contentType": "text/plain",
            "securityContext": me,
            "data": base64.b64encode(mark.encode()).decode(),
        },
    ]


def record(who: str) -> list[str]:
    """Store `who`'s record; return "Type/id" of every resource in it."""
    return [put(doc) for doc in _docs(who)]
