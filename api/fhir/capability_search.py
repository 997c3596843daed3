"""The search part of the CapabilityStatement, generated from the search parameter registry.

Per resource type: every supported parameter with its type, definition and documentation (which
names the modifiers it takes, from `registry.MODIFIERS`), `searchInclude` (`*` and each reference
parameter of the type) and `searchRevInclude` (each reference parameter of another type that can
point at this one). Operations come from `capability.OPERATIONS`, registered where they are routed.
https://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.searchParam
"""

import functools
from typing import Any

from fhirstore.search import registry

RESOURCE = "Resource"


def search_params(resource_type: str) -> list[dict[str, Any]]:
    """`searchParam` of one type, sorted by name."""
    return [_rendered(code, p) for code, p in sorted(registry.params_for(resource_type).items())]


def _rendered(code: str, param: registry.SearchParam) -> dict[str, Any]:
    item: dict[str, Any] = {"name": code, "definition": param.url, "type": param.type}
    documentation = " ".join(filter(None, (param.description, modifier_note(param.type))))
    if documentation:
        item["documentation"] = documentation
    return item


def modifier_note(kind: str) -> str:
    """The modifiers of a parameter type, in words a client developer reads."""
    names = [f":{m}" for m in registry.modifiers(kind)]
    return f"Modifiers: {', '.join(names)}." if names else ""


def search_includes(resource_type: str) -> list[str]:
    """`_include` values the type accepts: `*` and `Type:param` per reference parameter."""
    return ["*", *(f"{resource_type}:{code}" for code in _references(resource_type))]


def search_revincludes(resource_type: str) -> list[str]:
    """`_revinclude` values whose reference parameter may point at `resource_type`."""
    return list(_revincludes().get(resource_type, ()))


def _references(resource_type: str) -> list[str]:
    params = registry.params_for(resource_type)
    return sorted(code for code, p in params.items() if p.type == "reference")


@functools.cache
def _revincludes() -> dict[str, tuple[str, ...]]:
    """Target type -> `Source:param` for every reference parameter naming it (or any type)."""
    found: dict[str, set[str]] = {}
    types = registry.resource_types()
    for source in types:
        for code, param in registry.params_for(source).items():
            if param.type != "reference":
                continue
            # No declared target (or `Resource`) means the reference may name any type.
            targets = types if not param.targets or RESOURCE in param.targets else param.targets
            for target in targets:
                found.setdefault(target, set()).add(f"{source}:{code}")
    return {target: tuple(sorted(values)) for target, values in found.items()}


def operations_of(
    resource_type: str, operations: dict[str, tuple[str, str]]
) -> list[dict[str, str]]:
    """Operations whose example path starts at `resource_type` (`/Patient/x/$everything`)."""
    return [
        {"name": name, "definition": url}
        for name, (url, path) in sorted(operations.items())
        if path.split("/")[1:2] == [resource_type]
    ]
