"""The caller's access context, passed into the store so isolation is enforced in one place.

`AccessScope` is a plain value built by `access/` from the request's token (or by an operator
command). The repository and the search engine consult it before any query runs; views never do.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AccessScope:
    """What the caller may touch.

    `patient_ids` None means no compartment restriction (system or operator access); otherwise the
    caller sees only resources in those patients' compartments plus the shared `open_types`.
    `readable`/`writable` hold resource types, or "*" for all.
    """

    patient_ids: frozenset[str] | None = None
    readable: frozenset[str] = frozenset({"*"})
    writable: frozenset[str] = frozenset({"*"})
    open_types: frozenset[str] = field(default_factory=frozenset)
    actor: str = "system"

    @property
    def unrestricted(self) -> bool:
        return self.patient_ids is None

    def may_read(self, resource_type: str) -> bool:
        return "*" in self.readable or resource_type in self.readable

    def may_write(self, resource_type: str) -> bool:
        return "*" in self.writable or resource_type in self.writable


SYSTEM = AccessScope(actor="system")
