"""The parsed form of a FHIR search: plain frozen values, no database, no Django models.

`parse_search` (in `parse.py`) turns a query string into a `SearchRequest`; the query builder
(`engine.py` and the `filter_*` functions of `types/*`) turns a `SearchRequest` into SQL. Keeping
the two apart lets each be tested on its own. A criterion's `values` are OR'd (commas in the query
string); the request's `criteria` are AND'd (a repeated parameter).
https://hl7.org/fhir/R4/search.html
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Forward:
    """A chain link (`subject:Patient.name`): follow reference `param` to `target_types`."""

    param: str
    target_types: tuple[str, ...]


@dataclass(frozen=True)
class Reverse:
    """A reverse chain link (`_has:Observation:patient`): resources of `source_type` whose
    reference `param` points at the current resource."""

    source_type: str
    param: str


Hop = Forward | Reverse


@dataclass(frozen=True)
class TokenValue:
    """`[system]|[code]`: system None matches any system, "" matches no system; code None
    (`system|`) matches any code in the system."""

    system: str | None
    code: str | None


@dataclass(frozen=True)
class OfTypeValue:
    """`:of-type` on identifiers: `type-system|type-code|value`."""

    system: str
    code: str
    value: str


@dataclass(frozen=True)
class TextValue:
    """Plain text: string and uri values, and token `:text`."""

    text: str


@dataclass(frozen=True)
class DateValue:
    """A date search value with its prefix, as the inclusive instant range it denotes."""

    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class NumberValue:
    """A number with its prefix; `low`..`high` is the range implied by its precision."""

    prefix: str
    value: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class QuantityValue:
    """`[prefix]number|system|code`; system None matches any, code None matches any unit."""

    number: NumberValue
    system: str | None
    code: str | None


@dataclass(frozen=True)
class ReferenceValue:
    """A reference target: local (`target_type` may be None for a bare id) or a URL."""

    target_type: str | None
    target_id: str | None
    url: str | None = None


@dataclass(frozen=True)
class MissingValue:
    """`:missing=true|false`."""

    missing: bool


@dataclass(frozen=True)
class CompositeValue:
    """`a$b`: one value per component, in the order of the parameter's components."""

    parts: tuple["Value", ...]


Value = (
    TokenValue
    | OfTypeValue
    | TextValue
    | DateValue
    | NumberValue
    | QuantityValue
    | ReferenceValue
    | MissingValue
    | CompositeValue
)


@dataclass(frozen=True)
class Criterion:
    """One search parameter as written, resolved against the registry.

    `path` leads from the searched type to `resource_type`, where `code` (of `type`) applies.
    `components` holds the (code, type) of each part of a composite parameter.
    """

    name: str
    raw: str
    path: tuple[Hop, ...]
    resource_type: str | None
    code: str
    type: str
    modifier: str | None
    values: tuple[Value, ...]
    components: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Include:
    """`_include` / `_revinclude`: `source_type:param[:target_type]`; param "*" means all."""

    source_type: str
    param: str
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True)
class SortKey:
    """One `_sort` key: a parameter code of `type`, descending when written with `-`."""

    code: str
    type: str
    descending: bool = False


@dataclass(frozen=True)
class SearchRequest:
    """Everything a search asks for; `echo` is what the self link repeats (known params only)."""

    resource_type: str | None
    types: tuple[str, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    count: int = 20
    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: str | None = None
    cursor: str | None = None
    echo: tuple[tuple[str, str], ...] = field(default=())

    @property
    def searched_types(self) -> tuple[str, ...]:
        """The resource types whose rows may match: the type, or `_type`, or () for all."""
        return (self.resource_type,) if self.resource_type else self.types
