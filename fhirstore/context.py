"""The caller's access context, passed into the store so isolation is enforced in one place.

`AccessScope` is a plain value built by `access/` from the request's token (or by an operator
command). The repository and the search engine consult it before any query runs; views never do.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _no_filters() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


def _no_actions() -> Mapping[str, frozenset[str]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Guard:
    """A condition the caller's credentials must still meet when the store answers.

    `sql` is a boolean SQL expression over `params` (access/ builds it: the bearer token's row
    still exists, unchanged and unexpired). A read by id evaluates it in its own statement, saving
    a round trip; `Repository.require_live` evaluates it alone. When false, `GuardFailed` is
    raised, and the caller checks the credentials again the full way (they may be revoked, or
    changed: narrowed scopes then apply).
    """

    sql: str
    params: tuple[Any, ...]


class GuardFailed(Exception):
    """The caller's credentials no longer meet their `Guard`; nothing was answered yet."""


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
    # SMART v2 write letters per type ("*" for every type): "c" create, "u" update, "d" delete.
    # Empty: every writable type may be created, updated and deleted.
    write_actions: Mapping[str, frozenset[str]] = field(default_factory=_no_actions)
    # Credentials not yet re-checked for this request: the store checks them before answering.
    guard: Guard | None = None

    @property
    def unrestricted(self) -> bool:
        return self.patient_ids is None

    def may_read(self, resource_type: str) -> bool:
        return "*" in self.readable or resource_type in self.readable

    def may_write(self, resource_type: str, action: str = "") -> bool:
        """Whether `resource_type` may be written; with `action` ("c", "u" or "d"), that way."""
        if "*" not in self.writable and resource_type not in self.writable:
            return False
        if not action or not self.write_actions:
            return True
        letters = self.write_actions.get(resource_type, frozenset())
        return action in letters | self.write_actions.get("*", frozenset())

    def filters_for(self, resource_type: str) -> tuple[str, ...]:
        """The query strings a `resource_type` row must match one of; () when unfiltered."""
        return self.type_filters.get(resource_type, ())


SYSTEM = AccessScope(actor="system")
