"""Search index tables, filled at write time from the R4 SearchParameter definitions.

One table per parameter type (token, string, date, reference, quantity, number, uri); each row
belongs to the CURRENT, non-deleted version of one resource and names its `param` (the search
parameter code, e.g. "code", "patient", "_tag"). A search is an indexed SQL query over these
rows joined to `Resource`, never a scan of stored JSON. Conventions the query side relies on:

- Identifier `:of-type` is a SearchToken row with param "<param>:of-type": system/code are the
  identifier type's coding, `text` is the identifier value verbatim (not normalised).
- Reference `:identifier` is a SearchToken row with param "<param>:identifier": system/code are
  `reference.identifier.system`/`.value`.
- Composite parameters (e.g. Observation `code-value-quantity`) are stored as ordinary rows of the
  component types, with param "<composite-code>$<n>" (n = component index, 0-based) and a shared
  `group_no` (> 0, unique per composite element within the resource) so that components match
  only within the same element: join component tables on (resource_id, group_no). Plain rows have
  `group_no` 0.
- Dates are inclusive UTC ranges [low, high] at microsecond precision ("2024" is
  2024-01-01T00:00:00 .. 2024-12-31T23:59:59.999999); an open end is MIN/MAX_DATE below.
  Date-times without a zone are taken as UTC.
- Quantities and numbers are floats (the same on SQLite and PostgreSQL; search precision ranges
  are far wider than float error). A Range value is indexed as two rows, its low and its high.
- Sorting by a date parameter joins the one "<param>:sort" SearchDate row per resource that spans
  all its values (MIN(low) .. MAX(high)); other types use an aggregate per resource: MIN(value)
  for strings, numbers and quantities, MIN(code) for tokens.
- On PostgreSQL the lookup indexes carry `resource_id` (INCLUDE, or as the token index's last
  key), so semi-joins on them are index-only scans; SQLite ignores INCLUDE.
- Token rows carry their resource's principal date (`sort_high`, see `search/latest.py`), so a
  token search sorted newest first walks one index range and stops at the page's end.
"""

from datetime import UTC, datetime

from django.db import models

from fhirstore.models.resources import Resource

MIN_DATE = datetime(1, 1, 1, tzinfo=UTC)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _owner(related_name: str, *, db_index: bool = True) -> "models.ForeignKey[Resource, Resource]":
    """The resource an index row belongs to, without a foreign-key constraint in the database.

    PostgreSQL checks a deferred constraint at commit with one query per inserted row: about 18
    index rows per stored resource, 17% of PostgreSQL's CPU during ingest (bench/RESULTS.md,
    "Tenth session"). Rows are written only by the indexer, in the transaction that writes their
    resource, and deleted with it (Django cascades `on_delete` itself); resources are never
    removed by SQL of our own.
    """
    return models.ForeignKey(
        Resource,
        on_delete=models.CASCADE,
        related_name=related_name,
        db_index=db_index,
        db_constraint=False,
    )


class IndexRow(models.Model):
    """Columns every index row has; `resource` (`_owner`) is declared per table."""

    resource_type = models.CharField(max_length=64)
    param = models.CharField(max_length=64)
    group_no = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class SearchToken(IndexRow):
    """A coded value: Coding, CodeableConcept, Identifier, code, boolean, ContactPoint, id."""

    # No index of its own: `stoken_resource` starts with it (one index less to write per row).
    resource = _owner("search_tokens", db_index=False)
    system = models.CharField(max_length=255, default="")
    code = models.CharField(max_length=255)
    text = models.CharField(max_length=255, default="")
    # The latest instant of the type's principal date (`search/latest.py`), MIN_DATE when the
    # resource has none; NULL for types without one. Rows of one code in the index are in
    # date order, so "the newest with this code" reads only the rows it returns.
    sort_high = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["resource_type", "param", "code", "system", "sort_high"],
                include=["resource"],
                name="stoken_code_date",
            ),
            # A resource's rows of one parameter: a search pinned to one patient checks its
            # token criteria on the patient's rows by this index alone (`compiled._probed_sql`).
            models.Index(
                fields=["resource", "param", "code"],
                include=["resource_type", "system"],
                name="stoken_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.system}|{self.code}"


class SearchString(IndexRow):
    """A string value; `value` is normalised (casefolded, accents stripped, spaces collapsed)."""

    resource = _owner("search_strings")
    value = models.CharField(max_length=255)
    exact = models.CharField(max_length=255)

    class Meta:
        indexes = [
            models.Index(
                fields=["resource_type", "param", "value"],
                include=["resource"],
                name="sstring_value",
            )
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.exact}"


class SearchDate(IndexRow):
    """A date, dateTime, instant, Period or Timing as an inclusive UTC range."""

    # No index of its own: `sdate_resource` starts with it (one index less to write per row).
    resource = _owner("search_dates", db_index=False)
    low = models.DateTimeField()
    high = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["resource_type", "param", "low"], name="sdate_low"),
            models.Index(fields=["resource_type", "param", "high"], name="sdate_high"),
            # A resource's rows of one parameter: the `:sort` row a sort joins, and per-candidate
            # date checks, answered from the index alone on PostgreSQL.
            models.Index(
                fields=["resource", "param"],
                include=["resource_type", "low", "high"],
                name="sdate_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.low.isoformat()}..{self.high.isoformat()}"


class SearchReference(IndexRow):
    """A reference: local (`target_type`/`target_id`), or absolute/canonical (`target_url`)."""

    resource = _owner("search_references")
    target_type = models.CharField(max_length=64, default="")
    target_id = models.CharField(max_length=64, default="")
    target_url = models.CharField(max_length=255, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["resource_type", "param", "target_type", "target_id"],
                include=["resource"],
                name="sref_target",
            ),
            models.Index(fields=["target_type", "target_id"], name="sref_reverse"),
            models.Index(fields=["resource_type", "param", "target_url"], name="sref_url"),
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.target_type}/{self.target_id}{self.target_url}"


class SearchQuantity(IndexRow):
    """A Quantity (or Money, Duration, Age ...); `canonical_*` in UCUM base units when known."""

    resource = _owner("search_quantities")
    value = models.FloatField()
    system = models.CharField(max_length=255, default="")
    code = models.CharField(max_length=255, default="")
    canonical_value = models.FloatField(null=True)
    canonical_code = models.CharField(max_length=255, default="")

    class Meta:
        indexes = [
            models.Index(fields=["resource_type", "param", "code", "value"], name="squantity_code"),
            models.Index(
                fields=["resource_type", "param", "canonical_code", "canonical_value"],
                name="squantity_canonical",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.param}={self.value}|{self.system}|{self.code}"


class SearchNumber(IndexRow):
    """A decimal or integer value."""

    resource = _owner("search_numbers")
    value = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["resource_type", "param", "value"], name="snumber_value")]

    def __str__(self) -> str:
        return f"{self.param}={self.value}"


class SearchUri(IndexRow):
    """A uri, url or canonical value, verbatim (case-sensitive); truncated past 2,000 chars."""

    resource = _owner("search_uris")
    value = models.CharField(max_length=2000)

    class Meta:
        indexes = [models.Index(fields=["resource_type", "param", "value"], name="suri_value")]

    def __str__(self) -> str:
        return f"{self.param}={self.value}"


INDEX_TABLES: tuple[type[IndexRow], ...] = (
    SearchToken,
    SearchString,
    SearchDate,
    SearchReference,
    SearchQuantity,
    SearchNumber,
    SearchUri,
)
