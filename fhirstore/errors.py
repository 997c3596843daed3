"""Exceptions of the FHIR store. Each carries what the boundary needs to answer the client.

The FHIR API turns any `FhirError` into an OperationOutcome with `http_status`; the app API
turns it into application/problem+json. Anything else is a bug and is not caught.
Issue codes: https://hl7.org/fhir/R4/valueset-issue-type.html
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and where."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()


@dataclass
class FhirError(Exception):
    """Base class: a client-visible failure with an HTTP status and one or more issues."""

    diagnostics: str
    http_status: int = 400
    code: str = "invalid"
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)
        if not self.issues:
            self.issues = [Issue(self.code, self.diagnostics, expression=self.expression)]

    def __str__(self) -> str:
        return self.diagnostics


class InvalidResource(FhirError):
    """The content is not a valid FHIR R4 resource (400, or 422 for business-rule failures)."""


class InvalidRequest(FhirError):
    """The request itself is malformed: bad parameters, bad JSON, bad headers (400)."""


class NotFound(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, http_status=404, code="not-found")


class Gone(FhirError):
    def __init__(self, diagnostics: str, *, version: int = 0) -> None:
        headers = {"ETag": f'W/"{version}"'} if version else {}
        super().__init__(diagnostics, http_status=410, code="deleted", headers=headers)


class Conflict(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, http_status=409, code="conflict")


class PreconditionFailed(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, http_status=412, code="conflict")


class Forbidden(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, http_status=403, code="forbidden")


class NotSupported(FhirError):
    def __init__(self, diagnostics: str, *, http_status: int = 400) -> None:
        super().__init__(diagnostics, http_status=http_status, code="not-supported")
