"""The caller's access context, passed into the store so isolation is enforced in one place.

`AccessScope` is a plain value built by `access/` from the request's token (or by an operator
command). The repository and the search engine consult it before any query runs; views never do.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _no_filters() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class AccessScope:
    """What the caller may touch.

    `patient_ids` None means no compartment restriction (system or operator access); otherwise the
    caller sees only resources in those patients' compartments plus the shared `open_types`.
    `readable`/`writable` hold resource types, or "*" for all.
    `type_filters` narrows reading of some types to the rows matching at least one of its search
    query strings (SMART v2 granular scopes, `patient/Observation.rs?category=...`): a type with
    an entry is readable only through those queries.
    """

    patient_ids: frozenset[str] | None = None
    readable: frozenset[str] = frozenset({"*"})
    writable: frozenset[str] = frozenset({"*"})
    open_types: frozenset[str] = field(default_factory=frozenset)
    actor: str = "system"
    type_filters: Mapping[str, tuple[str, ...]] = field(default_factory=_no_filters)

    @property
    def unrestricted(self) -> bool:
        return self.patient_ids is None

    def may_read(self, resource_type: str) -> bool:
        return "*" in self.readable or resource_type in self.readable

    def may_write(self, resource_type: str) -> bool:
        return "*" in self.writable or resource_type in self.writable

    def filters_for(self, resource_type: str) -> tuple[str, ...]:
        """The query strings a `resource_type` row must match one of; () when unfiltered."""
        return self.type_filters.get(resource_type, ())


SYSTEM = AccessScope(actor="system")
