"""Conditional read (https://hl7.org/fhir/R4/http.html#cread): 304 Not Modified when the client's
copy is current, so an app that keeps a person's record can check it without fetching it again.

`If-None-Match` names versions by ETag (`W/"3"`, `"3"`, or `*`); `If-Modified-Since` an HTTP date.
When both are sent, `If-None-Match` decides (RFC 9110, section 13.2.2).
"""

from django.http import HttpRequest
from django.utils.http import parse_http_date_safe

from fhirstore.stored import Stored


def not_modified(request: HttpRequest, stored: Stored) -> bool:
    """Whether the client's copy, as its conditional headers describe it, is `stored`."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return _matches(tags, stored.version)
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and int(stored.last_updated.timestamp()) <= since


def _matches(tags: str, version: int) -> bool:
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in tags.split(",")}
    return "*" in wanted or str(version) in wanted
