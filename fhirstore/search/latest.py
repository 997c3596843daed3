"""Each type's principal date, carried on its token rows so "latest first" is an index range.

`Observation?code=http://loinc.org|29463-7&_sort=-date` is the dashboard query: the latest
results for a code. Joining each matching row to its date and sorting costs time in proportion to
every match of the code, which grows with the store. Instead every token row of a resource
carries the latest instant of its type's principal date (`SearchToken.sort_high`, the `high` of
the `<param>:sort` date row; MIN_DATE when the resource has none, so it sorts last as in any
date sort). The token index ends with `sort_high` (and carries `resource_id`), so the newest rows
of one code are the end of one index range: a search reads the rows it returns and no others
(`walk.py`). The principal date is the parameter named `date` where the type has one, else the
one below (the date each type is listed by in a record).
"""

from functools import cache

from fhirstore.search import registry

# Types without a `date` parameter, and the date their records are listed by.
_PRINCIPAL = {
    "Claim": "created",
    "Condition": "onset-date",
    "ExplanationOfBenefit": "created",
    "Goal": "start-date",
    "MedicationRequest": "authoredon",
    "Patient": "birthdate",
    "ServiceRequest": "authored",
}


@cache
def principal_date(resource_type: str) -> str | None:
    """The date parameter whose latest value `resource_type`'s token rows carry, if any."""
    params = registry.params_for(resource_type)
    for code in (_PRINCIPAL.get(resource_type), "date"):
        if code is not None and code in params and params[code].type == "date":
            return code
    return None
