"""The result-control parameters of a search: `_count`, `_sort`, `_include`, `_revinclude`,
`_summary`, `_elements`, `_total`, `_type` and the paging `_cursor`.

`parse_result_params` takes them out of the query and returns a `SearchRequest` holding them plus
the remaining (filter) parameters. `_count` is capped silently at `FHIR_STORE["MAX_COUNT"]`.
https://hl7.org/fhir/R4/search.html#return
"""

from fhirstore import conf
from fhirstore.fhirmodels import is_resource_type
from fhirstore.search import registry
from fhirstore.search.request import Include, SearchRequest, SortKey
from fhirstore.search.values import bad

CURSOR = "_cursor"
SUMMARY_MODES = frozenset({"true", "text", "data", "count", "false"})
TOTAL_MODES = frozenset({"none", "estimate", "accurate"})
# Handled by the HTTP layer (format negotiation), not by search.
HTTP_PARAMS = frozenset({"_format", "_pretty"})
SORTABLE = frozenset({"token", "string", "date", "reference", "quantity", "number", "uri"})
_RESULT = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_type"}
)


def parse_result_params(
    *, resource_type: str | None, params: list[tuple[str, str]], strict: bool
) -> tuple[SearchRequest, list[tuple[str, str]]]:
    """Split off result parameters; return them parsed, and the filter parameters left over."""
    fields: dict[str, object] = {"count": default_count()}
    includes: list[Include] = []
    revincludes: list[Include] = []
    echo, rest = [], []
    types = _types(params)
    for name, raw in params:
        base, _, modifier = name.partition(":")
        if name in HTTP_PARAMS:
            continue
        if name == CURSOR:
            fields["cursor"] = raw
            continue
        if base not in _RESULT:
            rest.append((name, raw))
            continue
        searched = (resource_type,) if resource_type else types
        if base == "_include":
            includes.extend(parse_include(raw, name, modifier, searched, reverse=False))
        elif base == "_revinclude":
            revincludes.extend(parse_include(raw, name, modifier, searched, reverse=True))
        else:
            fields.update(_single(base, raw, searched))
        echo.append((name, raw))
    request = SearchRequest(
        resource_type=resource_type,
        includes=tuple(includes),
        revincludes=tuple(revincludes),
        echo=tuple(echo),
        **fields,  # type: ignore[arg-type]
    )
    return request, rest


def default_count() -> int:
    return conf.default_count()


def _types(params: list[tuple[str, str]]) -> tuple[str, ...]:
    for name, raw in params:
        if name == "_type":
            return parse_types(raw)
    return ()


def parse_types(raw: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    for name in types:
        if not is_resource_type(name):
            raise bad(f"Unknown resource type '{name}' in _type", "_type")
    return types


def _single(base: str, raw: str, types: tuple[str, ...]) -> dict[str, object]:
    """The SearchRequest field(s) of one single-valued result parameter."""
    if base == "_count":
        return {"count": parse_count(raw)}
    if base == "_sort":
        return {"sort": parse_sort(raw, types)}
    if base == "_summary":
        return {"summary": _choice(raw, SUMMARY_MODES, base)}
    if base == "_total":
        return {"total": _choice(raw, TOTAL_MODES, base)}
    if base == "_elements":
        return {"elements": tuple(e.strip() for e in raw.split(",") if e.strip())}
    return {"types": parse_types(raw)}


def _choice(raw: str, allowed: frozenset[str], name: str) -> str:
    if raw not in allowed:
        raise bad(f"{name} must be one of {', '.join(sorted(allowed))}, not '{raw}'", name)
    return raw


def parse_count(raw: str) -> int:
    """A non-negative page size, capped at MAX_COUNT without complaint (the spec allows it)."""
    if not raw.isdigit():
        raise bad(f"_count must be a non-negative integer, not '{raw}'", "_count")
    return min(int(raw), conf.max_count())


def parse_sort(raw: str, types: tuple[str, ...]) -> tuple[SortKey, ...]:
    """`_sort=a,-b`: every key must be a sortable parameter of every searched type."""
    keys = []
    for item in (i.strip() for i in raw.split(",")):
        descending = item.startswith("-")
        code = item.removeprefix("-")
        keys.append(SortKey(code=code, type=_sort_type(code, types), descending=descending))
    if not keys or any(not key.code for key in keys):
        raise bad(f"Invalid _sort '{raw}'", "_sort")
    return tuple(keys)


def _sort_type(code: str, types: tuple[str, ...]) -> str:
    if code in ("_id", "_lastUpdated"):
        return "token" if code == "_id" else "date"
    if types:
        kinds = {getattr(registry.param(t, code), "type", None) for t in types}
    else:
        kinds = {getattr(registry.registry().common.get(code), "type", None)}
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind not in SORTABLE:
        raise bad(f"Unknown or unsortable _sort key '{code}'", "_sort")
    assert kind is not None
    return kind


def parse_include(
    raw: str, name: str, modifier: str, types: tuple[str, ...], *, reverse: bool
) -> list[Include]:
    """`Source:param[:Target]` or `*`; `:iterate` (or the older `:recurse`) repeats it."""
    if modifier not in ("", "iterate", "recurse"):
        raise bad(f"Unknown modifier ':{modifier}' on {name}", name)
    iterate = bool(modifier)
    if raw == "*":
        return [Include(source_type="*", param="*", iterate=iterate)]
    parts = raw.split(":")
    if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
        raise bad(f"Invalid {name} '{raw}': expected Type:param[:TargetType]", name)
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not is_resource_type(target):
        raise bad(f"Unknown target type '{target}' in {name} '{raw}'", name)
    if code != "*":
        definition = registry.param(source, code)
        if definition is None or definition.type != "reference":
            raise bad(f"'{source}:{code}' in {name} is not a reference parameter", name)
    if not reverse and not iterate and types and source not in types:
        raise bad(f"{name} '{raw}' does not start from a searched type", name)
    return [Include(source_type=source, param=code, target_type=target, iterate=iterate)]
