"""What a search returns to the layer that renders it: rows carrying their stored JSON text (never
re-parsed), the total, and the cursors of the neighbouring pages."""

from dataclasses import dataclass, field

from fhirstore.search.request import SearchRequest

# What a Bundle entry needs, and no more: a date-time column costs a conversion per row.
ROW_FIELDS = ("pk", "resource_type", "logical_id", "text")
# The same columns in SQL over `fhirstore_resource` aliased `r`.
ROW_SQL = 'r."id", r."resource_type", r."logical_id", r."text"'


@dataclass(frozen=True)
class Row:
    """One current resource as stored (its JSON text carries its version and lastUpdated)."""

    pk: int
    resource_type: str
    id: str
    text: str

    @classmethod
    def of(cls, values: dict) -> "Row":
        """From a `.values(*ROW_FIELDS)` dict."""
        return cls(
            pk=values["pk"],
            resource_type=values["resource_type"],
            id=values["logical_id"],
            text=values["text"],
        )


@dataclass(frozen=True)
class SearchResult:
    """A page of matches, the resources `_include`/`_revinclude` brought, and paging state."""

    request: SearchRequest
    matches: list[Row] = field(default_factory=list)
    included: list[Row] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None
    # Rows came from a statement that also checked the caller's credentials (AccessScope.guard).
    guard_held: bool = False
