"""SMART on FHIR scope strings, v1 and v2, parsed into plain values.

v1: `patient/Observation.read`, `.write`, `.*`; v2: `patient/Observation.rs`, `cruds` letters in
order, `*` for all types, optional `?param=value` restrictions (kept, applied by later layers).
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
"""

import re
from dataclasses import dataclass

_SCOPE = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(\?.*)?$"
)
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}


@dataclass(frozen=True)
class ResourceScope:
    """One granted scope: context (patient/user/system), type or "*", permission letters."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    query: str = ""

    def allows(self, resource_type: str, permission: str) -> bool:
        return self.resource_type in ("*", resource_type) and permission in self.permissions


def parse_scope(text: str) -> ResourceScope | None:
    """The resource scope in `text`; None for others (openid, launch, offline_access)."""
    match = _SCOPE.match(text)
    if not match or not match.group(3):
        return None
    context, resource_type, perms, query = match.groups()
    permissions = _V1.get(perms, frozenset(perms))
    return ResourceScope(context, resource_type, permissions, (query or "").lstrip("?"))


def parse_scopes(text: str) -> list[ResourceScope]:
    return [scope for scope in (parse_scope(item) for item in text.split()) if scope is not None]
