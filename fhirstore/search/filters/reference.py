"""Reference search: `id`, `Type/id`, an absolute or canonical URL, with the `:Type` modifier
already folded into the value by the parser. `:identifier` is a token search on the rows the
index writes with param `<code>:identifier`. https://hl7.org/fhir/R4/search.html#reference
"""

import re

from django.db.models import Q

from fhirstore.search.request import ReferenceValue, Value


def filter_reference(*, value: Value, modifier: str | None) -> Q:
    """Rows of SearchReference matching one OR'd value."""
    assert isinstance(value, ReferenceValue)
    if value.url is not None:
        return _url_q(value.url)
    q = Q(target_id=value.target_id)
    return q & Q(target_type=value.target_type) if value.target_type else q


def _url_q(url: str) -> Q:
    """The index keeps canonicals without `|version` and URLs without `/_history/v`, so a
    versioned search value matches every version of the target."""
    url = url.split("|", 1)[0]
    return Q(target_url=re.sub(r"/_history/[^/]+$", "", url))
