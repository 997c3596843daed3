"""The kick-off parameters of Bulk Data `$export`, parsed into a plain `ExportRequest`.

Parameters come from the query string (GET) or a `Parameters` resource (POST). Values the server
cannot honour are a 400 naming the parameter, unless the client sent `Prefer: handling=lenient`,
when they are ignored and reported as warnings in the manifest's `error` files (the spec's rule
for unsupported parameters). `_typeFilter` queries are parsed by the search parser here, so a bad
one fails the kick-off, not the job.
https://hl7.org/fhir/uv/bulkdata/export.html#query-parameters
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fhirstore.errors import FhirError, InvalidRequest, NotSupported
from fhirstore.fhirmodels import is_resource_type
from fhirstore.search.parse import parse_search
from fhirstore.search.values import parse_date_range

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
_IGNORED = frozenset({"_format", "_pretty"})
_PARAMETER_VALUES = (
    "valueString",
    "valueInstant",
    "valueDateTime",
    "valueCode",
    "valueUri",
    "valueUrl",
    "valueCanonical",
    "valueId",
)


@dataclass(frozen=True)
class ExportRequest:
    """What to export. `types` () means every type the caller may read; `type_filters` maps a
    type to search query strings, a row passing when it matches one; `patients` (POST `patient`)
    narrows a Patient or Group export to those ids; `warnings` are what lenient handling set
    aside."""

    types: tuple[str, ...] = ()
    since: datetime | None = None
    type_filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    patients: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "types": list(self.types),
            "since": self.since.isoformat() if self.since else None,
            "type_filters": {t: list(q) for t, q in self.type_filters.items()},
            "patients": list(self.patients),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExportRequest":
        since = data.get("since")
        return cls(
            types=tuple(data.get("types", ())),
            since=datetime.fromisoformat(since) if since else None,
            type_filters={t: tuple(q) for t, q in data.get("type_filters", {}).items()},
            patients=tuple(data.get("patients", ())),
            warnings=tuple(data.get("warnings", ())),
        )


def parameters_pairs(doc: Any) -> list[tuple[str, str]]:
    """The (name, value) pairs of a POSTed `Parameters` resource; references give their text."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "Parameters":
        raise InvalidRequest("The body of a POST $export must be a Parameters resource")
    pairs = []
    for index, parameter in enumerate(doc.get("parameter") or []):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str):
            raise InvalidRequest(f"Parameters.parameter[{index}] has no name")
        pairs.append((name, _parameter_value(parameter, name)))
    return pairs


def _parameter_value(parameter: dict[str, Any], name: str) -> str:
    reference = parameter.get("valueReference")
    if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
        return str(reference["reference"])
    for key in _PARAMETER_VALUES:
        if isinstance(parameter.get(key), str):
            return str(parameter[key])
    raise InvalidRequest(f"Parameter '{name}' has no value this server understands")


def parse_export_params(
    params: Iterable[tuple[str, str]], *, lenient: bool, posted: bool
) -> ExportRequest:
    """Parse kick-off parameters; InvalidRequest (400) names the first that cannot be honoured."""
    found: dict[str, list[str]] = {}
    warnings: list[str] = []
    for name, raw in params:
        if name in _IGNORED:
            continue
        found.setdefault(name, []).append(raw)
    _check_output_format(found.pop("_outputFormat", []))
    types = _types(found.pop("_type", []), lenient, warnings)
    since = _since(found.pop("_since", []))
    filters = _type_filters(found.pop("_typeFilter", []), types)
    patients = _patients(found.pop("patient", []), posted)
    for name in sorted(found):
        _unsupported(name, lenient, warnings)
    return ExportRequest(
        types=types,
        since=since,
        type_filters=filters,
        patients=patients,
        warnings=tuple(warnings),
    )


def _unsupported(name: str, lenient: bool, warnings: list[str]) -> None:
    message = f"The $export parameter '{name}' is not supported"
    if not lenient:
        raise NotSupported(f"{message} (send Prefer: handling=lenient to ignore it)")
    warnings.append(f"{message}; it was ignored")


def _check_output_format(values: list[str]) -> None:
    for value in values:
        if value.strip() not in OUTPUT_FORMATS:
            raise InvalidRequest(
                f"_outputFormat '{value}' is not supported; use application/fhir+ndjson",
                expression=("_outputFormat",),
            )


def _types(values: list[str], lenient: bool, warnings: list[str]) -> tuple[str, ...]:
    types: list[str] = []
    for value in values:
        for name in (t.strip() for t in value.split(",")):
            if not name or name in types:
                continue
            if is_resource_type(name):
                types.append(name)
            elif lenient:
                warnings.append(f"'{name}' in _type is not a resource type; it was ignored")
            else:
                raise InvalidRequest(
                    f"Unknown resource type '{name}' in _type", expression=("_type",)
                )
    return tuple(types)


def _since(values: list[str]) -> datetime | None:
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("_since may be given once", expression=("_since",))
    return parse_date_range(values[0].strip(), "_since")[0]


def _type_filters(values: list[str], types: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`Type?query` per value, each parsed strictly; types outside `_type` are left out."""
    filters: dict[str, list[str]] = {}
    for value in values:
        resource_type, mark, query = value.partition("?")
        if not mark or not is_resource_type(resource_type):
            raise InvalidRequest(
                f"_typeFilter '{value}' must be [type]?[search query]", expression=("_typeFilter",)
            )
        type_filter_criteria(resource_type, query)
        if not types or resource_type in types:
            filters.setdefault(resource_type, []).append(query)
    return {t: tuple(q) for t, q in filters.items()}


def type_filter_criteria(resource_type: str, query: str) -> Any:
    """The parsed search of one `_typeFilter`; 400 when it is not a plain search query."""
    try:
        request = parse_search(
            resource_type=resource_type,
            params=parse_qsl(query, keep_blank_values=True),
            strict=True,
        )
    except FhirError as error:
        raise InvalidRequest(
            f"_typeFilter '{resource_type}?{query}': {error}", expression=("_typeFilter",)
        ) from None
    if request.includes or request.revincludes or request.sort or not request.criteria:
        raise InvalidRequest(
            f"_typeFilter '{resource_type}?{query}' must hold search criteria only",
            expression=("_typeFilter",),
        )
    return request


def _patients(values: list[str], posted: bool) -> tuple[str, ...]:
    if values and not posted:
        raise InvalidRequest("'patient' is accepted only in a POST Parameters body")
    patients = []
    for value in values:
        kind, _, logical_id = value.partition("/")
        if kind != "Patient" or not logical_id or "/" in logical_id:
            raise InvalidRequest(f"patient '{value}' must be a Patient/[id] reference")
        patients.append(logical_id)
    return tuple(patients)
