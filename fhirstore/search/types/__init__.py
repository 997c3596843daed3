"""One strategy module per search parameter type (STYLE.md section 6).

Each module knows how to turn extracted element values into index rows (`rows`, the index side)
and how to filter and sort on them (`filter_*`/`sort_*`, the query side). Extracted values are
`(value, type_hint)` pairs from `fhirstore.search.fhirpath`; rows are plain tuples of the
type's own columns, in the order of the matching table's `COLUMNS`.
"""
