"""OperationOutcome: the one error currency of the FHIR boundary (also inside batch responses).

https://hl7.org/fhir/R4/operationoutcome.html
"""

from typing import Any

from fhirstore.errors import FhirError, Issue


def outcome_doc(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource for the given issues."""
    rendered = []
    for issue in issues:
        item: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            item["expression"] = list(issue.expression)
        rendered.append(item)
    return {"resourceType": "OperationOutcome", "issue": rendered}


def error_doc(error: FhirError) -> dict[str, Any]:
    return outcome_doc(error.issues)


def info_doc(message: str, *, code: str = "informational") -> dict[str, Any]:
    return outcome_doc([Issue(code, message, severity="information")])
