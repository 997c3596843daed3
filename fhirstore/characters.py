"""Characters a resource's strings and a search's values may not hold.

FHIR strings should hold no character below U+0020 but tab, carriage return and line feed
(https://hl7.org/fhir/R4/datatypes.html#string), and XML, FHIR's other format, cannot carry
them at all. PostgreSQL's text cannot hold NUL either: one in a value the store indexes or
searches for failed the whole statement. Both are answered as the client's error, naming where.
"""

import re
from typing import Any

from fhirstore.errors import InvalidRequest, InvalidResource

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# How orjson writes those characters in JSON text: `\u00XX`, or `\b` and `\f`. Finding one of
# these in the text is only a hint (it could follow an escaped backslash); the walk decides.
_HINTS = (b"\\u00", b"\\b", b"\\f")


def check_resource(doc: dict[str, Any], text: bytes) -> None:
    """Raise InvalidResource if a string in `doc` (serialised as `text`) holds a control
    character other than tab, CR and LF."""
    if not any(hint in text for hint in _HINTS):
        return
    where = _first_control(doc, str(doc.get("resourceType", "")))
    if where is not None:
        raise InvalidResource(
            f"{where}: strings may not contain control characters (other than tab, CR and LF)",
            code="value",
            expression=(where,),
        )


def _first_control(node: Any, path: str) -> str | None:
    if isinstance(node, str):
        return path if _CONTROL.search(node) else None
    if isinstance(node, dict):
        items: Any = ((f"{path}.{key}", value) for key, value in node.items())
    elif isinstance(node, list):
        items = ((f"{path}[{index}]", value) for index, value in enumerate(node))
    else:
        return None
    for where, value in items:
        found = _first_control(value, where)
        if found is not None:
            return found
    return None


def check_search_params(params: list[tuple[str, str]]) -> None:
    """Raise InvalidRequest if a search parameter's name or value holds NUL."""
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "")
            raise InvalidRequest(
                f"Search parameter '{shown}' contains a NUL character", expression=(shown,)
            )
