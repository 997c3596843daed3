"""Turn a search query string (as a list of name/value pairs) into a `SearchRequest`.

Parameter names are resolved against the registry of R4 search parameters, so the parser knows each
value's type and rejects what cannot be right (bad dates, unknown prefixes, unknown sort keys,
unsupported modifiers) with an `InvalidRequest` naming the parameter. Unknown parameters are
ignored and left out of the self link, unless `strict` (`Prefer: handling=strict`), when they are a
400 too. https://hl7.org/fhir/R4/search.html
"""

from collections.abc import Callable
from dataclasses import replace

from fhirstore import conf
from fhirstore.characters import check_search_params
from fhirstore.errors import InvalidRequest
from fhirstore.fhirmodels import is_resource_type
from fhirstore.search import registry
from fhirstore.search.request import (
    CompositeValue,
    Criterion,
    Forward,
    Hop,
    MissingValue,
    OfTypeValue,
    Reverse,
    SearchRequest,
    TextValue,
    Value,
)
from fhirstore.search.result_params import parse_result_params
from fhirstore.search.values import (
    PREFIXES,
    bad,
    parse_date,
    parse_number,
    parse_quantity,
    parse_reference,
    parse_token,
    split_escaped,
    unescape,
)

# One source of truth for modifiers: the registry (the CapabilityStatement lists the same).
MODIFIERS: dict[str, frozenset[str]] = {
    kind: frozenset(registry.modifiers(kind)) - {"[type]"} for kind in registry.PARAM_TYPES
}
# Parameters on Resource itself that every type has, answered from the resource table.
RESOURCE_PARAMS = {"_id": "token", "_lastUpdated": "date"}
_PREFIXED = frozenset({"date", "number", "quantity"})


class _Unknown(Exception):
    """A parameter the registry does not know: ignored, or a 400 under strict handling."""


def common_param(code: str) -> registry.SearchParam | None:
    """A parameter every type has (`_tag`, `_profile` ...): what a search without types may use."""
    return registry.registry().common.get(code)


def parse_search(
    *, resource_type: str | None, params: list[tuple[str, str]], strict: bool = False
) -> SearchRequest:
    """Parse a search on `resource_type` (None for a system search over `_type`)."""
    if resource_type is not None and not is_resource_type(resource_type):
        raise InvalidRequest(f"Unknown resource type '{resource_type}'", code="not-supported")
    check_search_params(params)
    control, rest = parse_result_params(resource_type=resource_type, params=params, strict=strict)
    types = (resource_type,) if resource_type else control.types
    criteria, echo = [], []
    for name, raw in rest:
        try:
            criteria.append(parse_criterion(types=types, name=name, raw=raw))
        except _Unknown as unknown:
            if strict:
                raise InvalidRequest(
                    str(unknown), code="not-supported", expression=(name,)
                ) from None
            continue
        echo.append((name, raw))
    return replace(control, criteria=tuple(criteria), echo=tuple(echo) + control.echo)


def lookup(resource_type: str | None, code: str) -> tuple[str, registry.SearchParam | None]:
    """The type of parameter `code` on `resource_type` (or on every type) and its definition."""
    if code in RESOURCE_PARAMS:
        return RESOURCE_PARAMS[code], None
    found = common_param(code) if resource_type is None else registry.param(resource_type, code)
    if found is None:
        raise _Unknown(f"Unknown search parameter '{code}' for {resource_type or 'all types'}")
    return found.type, found


def _lookup_all(types: tuple[str, ...], code: str) -> tuple[str, registry.SearchParam | None]:
    """A parameter must mean the same type on every searched type (system search)."""
    if not types:
        return lookup(None, code)
    results = [lookup(t, code) for t in types]
    if len({kind for kind, _ in results}) > 1:
        raise _Unknown(f"Search parameter '{code}' differs between {', '.join(types)}")
    return results[0]


def parse_criterion(*, types: tuple[str, ...], name: str, raw: str) -> Criterion:
    """One `name=value`: resolve the chain, the modifier and every OR'd value."""
    path, end_types, leaf = _resolve_path(types, name)
    code, _, modifier = leaf.partition(":")
    kind, definition = _lookup_all(end_types, code)
    type_hint = None
    if kind == "reference" and modifier and modifier not in MODIFIERS["reference"]:
        if not is_resource_type(modifier):
            raise bad(f"Unknown modifier ':{modifier}' on '{name}'", name)
        type_hint, modifier = modifier, ""
    if kind == "special":
        raise _Unknown(f"Search parameter '{code}' is not supported")
    if modifier and modifier not in MODIFIERS.get(kind, frozenset()):
        raise bad(f"Modifier ':{modifier}' is not supported on '{code}' ({kind})", name)
    components = _components(definition) if kind == "composite" else ()
    parser = _value_parser(kind, modifier or None, definition, type_hint, name, components)
    values = tuple(parser(part) for part in split_escaped(raw, ","))
    return Criterion(
        name=name,
        raw=raw,
        path=path,
        resource_type=end_types[0] if len(end_types) == 1 else None,
        code=code,
        type=kind,
        modifier=modifier or None,
        values=values,
        components=components,
    )


Resolved = tuple[tuple[Hop, ...], tuple[str, ...], str]


def _resolve_path(types: tuple[str, ...], name: str) -> Resolved:
    """Walk chains and `_has` links; return the hops, the types at the end and the leaf name."""
    path: list[Hop] = []
    while True:
        if name.startswith("_has:"):
            parts = name.split(":", 3)
            if len(parts) != 4 or not all(parts[1:]):
                raise bad(f"Invalid _has parameter '{name}'", name)
            _, source, ref, name = parts
            _check_reverse(source, ref, types, name)
            path.append(Reverse(source_type=source, param=ref))
            types = (source,)
            continue
        head, dot, rest = name.partition(".")
        if not dot:
            return tuple(path), types, name
        hop = _forward(types, head, rest)
        path.append(hop)
        types, name = hop.target_types, rest


def _check_reverse(source: str, ref: str, types: tuple[str, ...], name: str) -> None:
    if not is_resource_type(source):
        raise bad(f"Unknown resource type '{source}' in _has", name)
    kind, definition = lookup(source, ref)
    if kind != "reference":
        raise bad(f"'{source}:{ref}' in _has is not a reference parameter", name)
    targets = definition.targets if definition else ()
    if targets and types and not set(types) & set(targets):
        raise bad(f"'{source}:{ref}' cannot refer to {', '.join(types)}", name)


def _forward(types: tuple[str, ...], head: str, rest: str) -> Forward:
    """A chain link `param[:Type]`; its targets are narrowed to types that know the next param."""
    code, _, type_hint = head.partition(":")
    kind, definition = _lookup_all(types, code)
    if kind != "reference":
        raise bad(f"Cannot chain on '{code}': it is not a reference parameter", head)
    targets = tuple(definition.targets) if definition else ()
    if type_hint:
        if not is_resource_type(type_hint) or (targets and type_hint not in targets):
            raise bad(f"'{code}' cannot refer to '{type_hint}'", head)
        targets = (type_hint,)
    next_code = _next_code(rest)
    usable = tuple(t for t in targets if next_code is None or _knows(t, next_code))
    if not usable:
        raise _Unknown(f"No target of '{code}' has a search parameter '{next_code}'")
    return Forward(param=code, target_types=usable)


def _next_code(rest: str) -> str | None:
    """The parameter code the chain continues with (None when it continues with `_has`)."""
    if rest.startswith("_has:"):
        return None
    return rest.partition(".")[0].partition(":")[0]


def _knows(resource_type: str, code: str) -> bool:
    return code in RESOURCE_PARAMS or registry.param(resource_type, code) is not None


def _components(definition: registry.SearchParam | None) -> tuple[tuple[str, str], ...]:
    """(code, type) of each component of a composite parameter, in order."""
    if definition is None:
        return ()
    return tuple((c.code, c.type) for c in definition.components)


def _value_parser(
    kind: str,
    modifier: str | None,
    definition: registry.SearchParam | None,
    type_hint: str | None,
    name: str,
    components: tuple[tuple[str, str], ...],
) -> Callable[[str], Value]:
    """The function that parses one OR'd value of this parameter."""
    if modifier == "missing":
        return lambda raw: _missing(raw, name)
    if modifier == "text" or kind in ("string", "uri"):
        return lambda raw: TextValue(unescape(raw))
    if modifier == "of-type":
        return lambda raw: _of_type(raw, name)
    if modifier == "identifier" or kind == "token":
        return lambda raw: parse_token(raw, name)
    if kind == "composite":
        return lambda raw: _composite(raw, name, components)
    if kind == "reference":
        targets = tuple(definition.targets) if definition else ()
        url = conf.public_base_url()
        return lambda raw: parse_reference(
            raw, name, targets=targets, base_url=url, type_hint=type_hint
        )
    return _simple_parser(kind, name)


def _simple_parser(kind: str, name: str) -> Callable[[str], Value]:
    parsers: dict[str, Callable[[str, str], Value]] = {
        "date": parse_date,
        "number": parse_number,
        "quantity": parse_quantity,
        "token": parse_token,
    }
    parser = parsers.get(kind)
    if parser is None:
        raise _Unknown(f"Search parameter '{name}' of type {kind} is not supported")

    def parse(raw: str) -> Value:
        # Letters where a prefix belongs (`xx2024`) are a bad prefix, not a bad date.
        if kind in _PREFIXED and raw[:2].isalpha() and raw[:2] not in PREFIXES:
            raise bad(f"Unknown prefix '{raw[:2]}' in '{raw}' for parameter '{name}'", name)
        return parser(raw, name)

    return parse


def _missing(raw: str, name: str) -> MissingValue:
    if raw not in ("true", "false"):
        raise bad(f":missing takes true or false, not '{raw}' ('{name}')", name)
    return MissingValue(missing=raw == "true")


def _of_type(raw: str, name: str) -> OfTypeValue:
    parts = [unescape(p) for p in split_escaped(raw, "|")]
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise bad(f":of-type takes system|code|value, not '{raw}' ('{name}')", name)
    return OfTypeValue(system=parts[0], code=parts[1], value=parts[2])


def _composite(raw: str, name: str, components: tuple[tuple[str, str], ...]) -> CompositeValue:
    parts = split_escaped(raw, "$")
    if len(parts) != len(components):
        raise bad(f"'{name}' takes {len(components)} values joined by '$', not '{raw}'", name)
    return CompositeValue(
        parts=tuple(
            _value_parser(kind, None, None, None, name, ())(part)
            for part, (_, kind) in zip(parts, components, strict=True)
        )
    )
