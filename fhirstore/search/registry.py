"""The registry of search parameters: the official R4 SearchParameter definitions, per type.

Loaded once on first use from `fhirstore/data/search-parameters.json` (the R4 bundle of 1,378
definitions) into frozen `SearchParam` values. `params_for(resource_type)` answers every
parameter a type supports, the common `Resource`/`DomainResource` ones (`_id`, `_lastUpdated`,
`_tag`, `_profile`, `_security`, `_source`) included; `_text`, `_content`, `_query` and the
`special` parameters have no expression and are declared unsupported (`UNSUPPORTED`). Both the
query side and the CapabilityStatement read this, and the indexer compiles each parameter's
expression once per resource type (`extractor`). https://hl7.org/fhir/R4/searchparameter-registry.html
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fhirstore.search.fhirpath import Extractor, Unsupported, compile_path

DATA = Path(__file__).resolve().parent.parent / "data"
DEFINITIONS = DATA / "search-parameters.json"
# The patient compartment definition lists every R4 resource type, with or without own params.
TYPES_SOURCE = DATA / "compartmentdefinition-patient.json"
COMMON_BASES = ("Resource", "DomainResource")
# R4 errata: this composite pairs the relatesto (reference) definition with the expression `code`
# and relation (token) with `target`; the expressions are swapped so each matches its type.
COMPONENT_ERRATA = {
    "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship": ("target", "code"),
}
PARAM_TYPES = ("number", "date", "string", "token", "reference", "composite", "quantity", "uri")
# The modifiers search understands per parameter type: the parser accepts exactly these and the
# CapabilityStatement documents them. A reference parameter also takes a resource type as its
# modifier (`subject:Patient=23`). https://hl7.org/fhir/R4/search.html#modifiers
MODIFIERS: dict[str, tuple[str, ...]] = {
    "token": ("missing", "not", "text", "of-type", "above", "below"),
    "string": ("missing", "exact", "contains"),
    "date": ("missing",),
    "reference": ("missing", "identifier", "[type]"),
    "quantity": ("missing",),
    "number": ("missing",),
    "uri": ("missing", "above", "below"),
    "composite": ("missing",),
}


@dataclass(frozen=True)
class Component:
    """One part of a composite parameter: the parameter it uses and its relative expression."""

    code: str
    type: str
    expression: str


@dataclass(frozen=True)
class SearchParam:
    """One search parameter as the R4 definitions declare it."""

    code: str
    type: str
    base: tuple[str, ...]
    expression: str
    targets: tuple[str, ...]
    components: tuple[Component, ...]
    description: str
    url: str


@dataclass(frozen=True)
class Registry:
    """Parameters by resource type, plus those that cannot be indexed and why."""

    by_type: dict[str, dict[str, SearchParam]]
    common: dict[str, SearchParam]
    types: frozenset[str]
    unsupported: dict[str, str]  # url -> reason


def params_for(resource_type: str) -> dict[str, SearchParam]:
    """Every supported parameter of `resource_type` by code, common ones included."""
    return _params_for(resource_type)


def param(resource_type: str, code: str) -> SearchParam | None:
    """The parameter `code` of `resource_type`, or None if the type has no such parameter."""
    return _params_for(resource_type).get(code)


def resource_types() -> tuple[str, ...]:
    """Every R4 resource type (each has at least the common parameters)."""
    return tuple(sorted(registry().types))


def modifiers(kind: str) -> tuple[str, ...]:
    """The modifiers a parameter of type `kind` takes (`[type]`: a resource type, references)."""
    return MODIFIERS.get(kind, ())


def unsupported() -> dict[str, str]:
    """Definitions not indexed, by canonical URL, with the reason."""
    return registry().unsupported


@cache
def registry() -> Registry:
    with DEFINITIONS.open("rb") as handle:
        bundle = json.load(handle)
    definitions = [entry["resource"] for entry in bundle.get("entry", [])]
    by_url = {d["url"]: d for d in definitions}
    by_type: dict[str, dict[str, SearchParam]] = {}
    common: dict[str, SearchParam] = {}
    rejected: dict[str, str] = {}
    for definition in definitions:
        search_param, reason = _build(definition, by_url)
        if search_param is None:
            rejected[definition["url"]] = reason
            continue
        for base in search_param.base:
            target = common if base in COMMON_BASES else by_type.setdefault(base, {})
            target[search_param.code] = search_param
    with TYPES_SOURCE.open("rb") as handle:
        types = frozenset(entry["code"] for entry in json.load(handle)["resource"])
    return Registry(
        by_type=by_type, common=common, types=types | set(by_type), unsupported=rejected
    )


@cache
def _params_for(resource_type: str) -> dict[str, SearchParam]:
    reg = registry()
    if resource_type not in reg.types:
        return {}
    return {**reg.common, **reg.by_type.get(resource_type, {})}


def _build(definition: dict, by_url: dict[str, dict]) -> tuple[SearchParam | None, str]:
    expression = definition.get("expression") or ""
    kind = definition["type"]
    if not expression or kind not in PARAM_TYPES:
        return None, f"type {kind} without a FHIRPath expression"
    parts = definition.get("component", ())
    expressions = COMPONENT_ERRATA.get(definition["url"]) or [c["expression"] for c in parts]
    components = tuple(_component(c, e, by_url) for c, e in zip(parts, expressions, strict=True))
    search_param = SearchParam(
        code=definition["code"],
        type=kind,
        base=tuple(definition.get("base", ())),
        expression=expression,
        targets=tuple(definition.get("target", ())),
        components=components,
        description=definition.get("description", ""),
        url=definition["url"],
    )
    return search_param, ""


def _component(component: dict, expression: str, by_url: dict[str, dict]) -> Component:
    target = by_url.get(component["definition"], {})
    return Component(
        code=target.get("code", component["definition"].rsplit("/", 1)[-1]),
        type=target.get("type", ""),
        expression=expression,
    )


@dataclass(frozen=True)
class Compiled:
    """A parameter's expression compiled for one resource type (components relative)."""

    param: SearchParam
    extract: Extractor
    parts: tuple[tuple[Component, Extractor], ...]


@cache
def compiled_for(resource_type: str) -> tuple[tuple[Compiled, ...], dict[str, str]]:
    """Extractors of every parameter of `resource_type` and the codes skipped (code -> reason)."""
    compiled: list[Compiled] = []
    skipped: dict[str, str] = {}
    for code, search_param in params_for(resource_type).items():
        try:
            compiled.append(_compile(search_param, resource_type))
        except Unsupported as error:
            skipped[code] = str(error)
    return tuple(compiled), skipped


def _compile(search_param: SearchParam, resource_type: str) -> Compiled:
    extract = compile_path(search_param.expression, resource_type=resource_type)
    parts = tuple(
        (component, compile_path(component.expression, resource_type=None))
        for component in search_param.components
    )
    return Compiled(param=search_param, extract=extract, parts=parts)
