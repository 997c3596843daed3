"""The one module that imports fhir.resources: R4 validation and model metadata.

fhir.resources 8 puts R5 at the top level; its `R4B` package validates R4 (4.0.1) content, which is
what we serve. Pydantic's lax mode would accept `"active": "yes"` or `"valueInteger": "3"`, so a
strict JSON-type pass runs first: FHIR JSON is typed (http://hl7.org/fhir/R4/json.html#primitive).
Eighteen R4 types were withdrawn in R4B (MedicinalProduct*, Substance* specifications, the evidence
syntheses) and Evidence/EvidenceVariable were redesigned; these get the checks every resource
shares (id, meta, narrative) and nothing deeper. Nested elements that were valid before are not
validated again (see `_ValidElements`): the same codings, units and references recur in most
resources of a load.
"""

import functools
import json
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase
from pydantic import BaseModel, ValidationError

from fhirstore.errors import InvalidResource, Issue

_DATA = Path(__file__).resolve().parent / "data"
FHIR_VERSION = "4.0.1"


def _load_resource_types() -> frozenset[str]:
    definition = json.loads((_DATA / "compartmentdefinition-patient.json").read_text())
    return frozenset(entry["code"] for entry in definition["resource"])


RESOURCE_TYPES: frozenset[str] = _load_resource_types()
# R4 types whose R4B model is a different, later design: base checks only (see module docstring).
_REDESIGNED_IN_R4B = frozenset({"Evidence", "EvidenceVariable"})


@functools.cache
def model_class(resource_type: str) -> type[BaseModel] | None:
    """The R4B pydantic model for a type, or None for R4 types that R4B withdrew or redesigned."""
    if resource_type in _REDESIGNED_IN_R4B:
        return None
    try:
        return typing.cast(type[BaseModel], get_fhir_model_class(resource_type))
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def is_resource_type(name: str) -> bool:
    """True for the R4 resource types this server stores."""
    return name in RESOURCE_TYPES


# --- strict JSON types -------------------------------------------------------------------------

_Field = tuple[str, bool, Any, frozenset[str] | None]  # (kind, list?, child model, codes)
_BOOL, _INT, _DEC, _STR, _OBJ, _RES = "bool", "int", "decimal", "str", "object", "resource"


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Optional/Annotated/List and say whether it was a list."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            annotation = next(a for a in args if a is not type(None))
        elif origin is typing.Annotated:
            annotation = args[0]
        elif origin in (list, typing.List):  # noqa: UP006 - fhir.resources uses typing.List
            is_list, annotation = True, args[0]
        else:
            return annotation, is_list


def _field_kind(annotation: Any) -> tuple[str, Any]:
    if annotation is bool:
        return _BOOL, None
    if annotation is int:
        return _INT, None
    if annotation in (Decimal, float):
        return _DEC, None
    klass = getattr(annotation, "get_model_klass", None)
    if klass is not None:
        child = klass()
        if child.__name__ in ("Resource", "DomainResource"):
            return _RES, None
        return _OBJ, child
    return _STR, None


def _required_codes(info: Any) -> frozenset[str] | None:
    """A required binding's codes when the model lists them all ("+" marks a partial list)."""
    extra = info.json_schema_extra
    codes = extra.get("enum_values") if isinstance(extra, dict) else None
    if not codes or "+" in codes:
        return None
    return frozenset(codes)


@functools.cache
def _schema(model: type[BaseModel]) -> dict[str, _Field]:
    fields: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        annotation, is_list = _unwrap(info.annotation)
        kind, child = _field_kind(annotation)
        fields[info.alias or name] = (kind, is_list, child, _required_codes(info))
    return fields


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    _BOOL: (bool,),
    _INT: (int,),
    _DEC: (int, float, Decimal),
    _STR: (str,),
    _OBJ: (dict,),
    _RES: (dict,),
}


def _check_value(value: Any, kind: str, path: str, issues: list[Issue]) -> None:
    expected = _JSON_TYPES[kind]
    if isinstance(value, bool) and kind != _BOOL or not isinstance(value, expected):
        issues.append(
            Issue(
                "structure",
                f"{path}: expected a JSON {kind}, got {type(value).__name__}",
                expression=(path,),
            )
        )


def _check_types(
    doc: dict[str, Any], model: type[BaseModel], path: str, issues: list[Issue]
) -> None:
    schema = _schema(model)
    for key, value in doc.items():
        spec = schema.get(key)
        if spec is None or value is None:
            continue  # unknown keys and nulls are reported by pydantic
        kind, is_list, child, codes = spec
        items = value if is_list and isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if item is None and is_list:
                continue  # nulls keep primitive arrays and their `_x` twins aligned
            where = f"{path}.{key}[{index}]" if is_list else f"{path}.{key}"
            _check_value(item, kind, where, issues)
            if codes is not None and isinstance(item, str) and item not in codes:
                allowed = ", ".join(sorted(codes))
                issues.append(
                    Issue(
                        "code-invalid",
                        f"{where}: {item!r} is not one of {allowed}",
                        expression=(where,),
                    )
                )
            if kind == _OBJ and child is not None and isinstance(item, dict):
                _check_types(item, child, where, issues)
            elif kind == _RES and isinstance(item, dict):
                _check_contained(item, where, issues)


def _check_contained(doc: dict[str, Any], path: str, issues: list[Issue]) -> None:
    model = model_class(str(doc.get("resourceType", "")))
    if model is not None:
        _check_types(doc, model, path, issues)


# --- nested elements seen before ---------------------------------------------------------------


class _ValidElements:
    """Remembers nested elements that validated, keyed by (model, exact JSON text).

    fhir_core validates every nested element (a Coding, a Reference ...) through
    `FhirBase.fhir_model_validator(value, model)`, and the outcome depends only on that JSON value
    and the model. Across 2,800 Synthea resources 44,000 nested elements held only 5,900 distinct
    values, so an element met before with the same text is given its earlier model instance
    instead of being validated again. Only successes are kept, so every rejection and its message
    is unchanged. A Decimal is keyed by its digits between marks; it cannot be mistaken for a
    string, because the strict type pass has already fixed each element's JSON type by its path.
    Bounded: the whole memory is dropped when it is full (`LIMIT` elements, each under
    `LARGEST` bytes of JSON; larger ones rarely recur).
    """

    LIMIT = 10_000  # about 20 MB; 5,000: 80% hits and +8% CPU, 20,000: 84% and 40 MB
    LARGEST = 2_000

    def __init__(self, validate: Any) -> None:
        self.validate = validate
        self.valid: dict[tuple[type, bytes], Any] = {}

    def __call__(self, base: type, value: Any, model: type) -> Any:
        if type(value) is not dict:
            return self.validate(base, value, model)
        key = (model, orjson.dumps(value, default=_decimal_key))
        known = self.valid.get(key)
        if known is None:
            known = self.validate(base, value, model)
            if len(key[1]) <= self.LARGEST:
                if len(self.valid) >= self.LIMIT:
                    self.valid.clear()
                self.valid[key] = known
        return known


def _decimal_key(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"\ue000{value}\ue000"
    raise TypeError(f"{type(value).__name__} is not JSON")


_valid_elements = _ValidElements(FhirBase.fhir_model_validator.__func__)  # type: ignore[attr-defined]
FhirBase.fhir_model_validator = classmethod(_valid_elements)  # type: ignore[method-assign,assignment]


# --- validation --------------------------------------------------------------------------------


def _pydantic_issues(error: ValidationError, resource_type: str) -> list[Issue]:
    issues = []
    for detail in error.errors()[:20]:
        location = ".".join(str(part) for part in detail["loc"] if part != "__root__")
        path = f"{resource_type}.{location}" if location else resource_type
        message = detail["msg"].replace("Value error, ", "")
        code = "structure" if detail["type"] == "extra_forbidden" else "value"
        issues.append(Issue(code, f"{path}: {message}", expression=(path,)))
    return issues


def validate_resource(doc: dict[str, Any]) -> None:
    """Raise InvalidResource unless `doc` is a valid R4 resource of a storable type.

    Checks JSON types strictly, then the R4B model (unknown elements, cardinality, formats).
    """
    resource_type = doc.get("resourceType")
    if not isinstance(resource_type, str) or not is_resource_type(resource_type):
        raise InvalidResource(
            f"Unknown or missing resourceType {resource_type!r}", code="structure"
        )
    model = model_class(resource_type) or model_class("DomainResource")
    assert model is not None
    issues: list[Issue] = []
    _check_types(doc, model, resource_type, issues)
    if issues:
        raise InvalidResource(issues[0].diagnostics, code="structure", issues=issues[:20])
    body = (
        doc if model_class(resource_type) else {k: v for k, v in doc.items() if k in _schema(model)}
    )
    try:
        model.model_validate(body)
    except ValidationError as error:
        issues = _pydantic_issues(error, resource_type)
        raise InvalidResource(issues[0].diagnostics, issues=issues) from None
    except (ValueError, TypeError) as error:
        raise InvalidResource(f"{resource_type}: {error}") from None


@functools.cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level JSON keys marked as summary elements in the R4 definition of the type."""
    model = model_class(resource_type) or model_class("DomainResource")
    assert model is not None
    keys = {"resourceType", "id", "meta"}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("summary_element_property"):
            keys.add(info.alias or name)
    return frozenset(keys)


@functools.cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """Top-level keys that are required (min 1) in the type; kept by `_elements` and `_summary`."""
    model = model_class(resource_type) or model_class("DomainResource")
    assert model is not None
    keys = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        # Required primitives are marked `element_required`; required complex ones (Observation
        # .code) are plain required fields.
        if info.is_required() or (isinstance(extra, dict) and extra.get("element_required")):
            keys.add(info.alias or name)
    return frozenset(keys)


def element_names(resource_type: str) -> frozenset[str]:
    """Every top-level JSON key the type defines."""
    model = model_class(resource_type) or model_class("DomainResource")
    assert model is not None
    return frozenset(_schema(model))
